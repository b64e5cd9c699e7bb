"""Benchmark: the audio timeline of a 3-minute call on one core, and its memory.

Goal (issue 14): the timeline of a 3-minute call at least 200 times faster than real time on
one core. The call is rendered by the sandbox (espeak-ng French speech, five rings, a greeting,
two minutes of hold music with announcements, then a conversation) as a dual 8 kHz WAV, a mono
16 kHz WAV and an MP3; each is analysed from its file, several times, pinned to one CPU.

    python bench/audio.py [--repeat 5]

Prints, per file: the median wall and CPU time of `timeline_of_file`, the real-time factor
(audio seconds per second of analysis), the peak of Python and numpy allocations during one
analysis (tracemalloc), then the same for the call looped to one hour, and the process's peak
resident memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from channels.phone.audio import timeline_of_file
from sandbox.sound import Piece, Rendered, Scene, render
from sandbox.sound.files import wav_bytes
from sandbox.sound.voice import espeak_path

GOAL_REAL_TIME_FACTOR = 200


def three_minute_call() -> Rendered:
    """Five rings, a greeting, two minutes of hold with announcements, a conversation."""
    pieces = [
        Piece("ringback", 0.3, 24.0),
        Piece("speech", 24.6, None, text="Mairie de Villeurbanne, bonjour. Ne quittez pas."),
        Piece("music", 29.0, 120.0),
    ]
    for at in (45.0, 75.0, 105.0, 135.0):
        pieces.append(
            Piece(
                "announcement",
                at,
                None,
                text="Tous nos conseillers sont en ligne, merci de patienter.",
            )
        )
    pieces += [
        Piece("speech", 150.0, None, text="Service état civil, bonjour, je vous écoute."),
        Piece("speech", 154.0, None, side="caller", text="Bonjour, quels sont vos horaires ?"),
        Piece(
            "speech", 158.0, None, text="Du lundi au vendredi, de neuf heures à dix-sept heures."
        ),
        Piece("dtmf", 165.0, None, side="caller", digits="1"),
        Piece("speech", 168.0, None, text="Je vous en prie, bonne journée, au revoir."),
    ]
    return render(Scene(tuple(pieces), 180.0, noise_db=-55, mulaw=True, seed=14, music_style="pop"))


def measure(path: Path, duration_s: float, repeat: int) -> None:
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        timeline = timeline_of_file(path)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    tracemalloc.start()
    timeline_of_file(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    factor = duration_s / wall
    verdict = "goal met" if factor >= GOAL_REAL_TIME_FACTOR else "BELOW GOAL"
    print(
        f"{path.name:<20} {duration_s:5.0f} s of audio: {wall * 1000:6.0f} ms wall,"
        f" {cpu * 1000:6.0f} ms CPU, {factor:5.0f}x real time on the wall clock ({verdict}),"
        f" {duration_s / cpu:5.0f}x per CPU second,"
        f" peak allocations {peak / 2**20:6.1f} MiB; rings {timeline.rings},"
        f" answered at {timeline.answered_at_s} s, music {timeline.music_s} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if espeak_path() is None:
        raise SystemExit("espeak-ng is missing: `make services` installs it")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rendered = three_minute_call()
    with tempfile.TemporaryDirectory(prefix="prober-bench-audio-") as folder:
        files = {
            "call-dual-8k.wav": rendered.wav,
            "call-mono-16k.wav": rendered.mono_wav(rate_hz=16000),
            "call-dual.mp3": rendered.mp3(),
        }
        hour = np.tile(rendered.callee, 20)
        files["call-1h-mono-8k.wav"] = wav_bytes([hour], rate_hz=8000)
        print(f"one core (CPU {sorted(os.sched_getaffinity(0))}), median of {args.repeat} runs")
        for name, data in files.items():
            path = Path(folder) / name
            path.write_bytes(data)
            duration = 3600.0 if "1h" in name else 180.0
            measure(path, duration, args.repeat if duration < 3600 else 1)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak resident memory: {peak_rss:.0f} MiB (rendering included)")


if __name__ == "__main__":
    main()
