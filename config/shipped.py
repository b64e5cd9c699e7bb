"""Files shipped with prober (default criteria, personas, scenarios), copied by `prober init`."""

from __future__ import annotations

from pathlib import Path

SHIPPED_DIR = Path(__file__).parent / "defaults"


def shipped_path(*parts: str) -> Path:
    """The path of a file or directory inside the shipped defaults, e.g. ``("criteria.toml",)``.

    Raises ValueError for parts that would leave the defaults directory.
    """
    path = SHIPPED_DIR.joinpath(*parts)
    if not path.resolve().is_relative_to(SHIPPED_DIR.resolve()):
        raise ValueError(f"{'/'.join(parts)!r} is outside the shipped defaults")
    return path
