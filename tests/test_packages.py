"""Our top-level packages have generic names: make sure the ones imported are this repository's."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "name", ["prober", "channels", "scheduler", "storage", "config", "sandbox"]
)
def test_package_comes_from_this_repository(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().parent == REPOSITORY / name
