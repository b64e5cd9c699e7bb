"""``prober init``: a new project folder with settings, catalogue files and an empty database."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from config.shipped import shipped_path
from prober.errors import ProberError

STARTER_CONFIG = Path(__file__).parent / "prober.toml"


@dataclass(frozen=True, slots=True)
class StarterFiles:
    """The files ``prober init`` wrote."""

    written: list[Path]


def write_starter_files(directory: Path, *, force: bool = False) -> StarterFiles:
    """Write ``prober.toml``, ``scenarios/``, ``personas.toml`` and ``criteria.toml``.

    Refuses to overwrite any existing file unless ``force``; nothing is written then.
    """
    plan: list[tuple[Path, Path]] = [
        (STARTER_CONFIG, directory / "prober.toml"),
        (shipped_path("personas.toml"), directory / "personas.toml"),
        (shipped_path("criteria.toml"), directory / "criteria.toml"),
    ]
    scenarios = shipped_path("scenarios")
    plan += [
        (source, directory / "scenarios" / source.relative_to(scenarios))
        for source in sorted(scenarios.rglob("*"))
        if source.is_file()
    ]
    existing = [target for _, target in plan if target.exists()]
    if existing and not force:
        raise ProberError(
            f"{existing[0]} exists already ({len(existing)} file(s) would be overwritten): "
            "use --force to overwrite, or run `prober init` in another folder"
        )
    for source, target in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return StarterFiles(written=[target for _, target in plan])
