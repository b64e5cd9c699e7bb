"""Real sound for the simulated world: French speech (espeak-ng), French ringback and busy tones,
hold music, DTMF, line noise and G.711 µ-law, rendered from a scene with the truth of each piece."""

from sandbox.sound.render import render
from sandbox.sound.scene import MUSIC_STYLES, Piece, PieceKind, PlacedPiece, Rendered, Scene

__all__ = ["MUSIC_STYLES", "Piece", "PieceKind", "PlacedPiece", "Rendered", "Scene", "render"]
