"""Sockets and transports left for the garbage collector to close."""

from __future__ import annotations

import contextlib
import gc
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def no_unclosed_resources() -> Iterator[None]:
    """Fails when the block leaves something unclosed: the ResourceWarning its collection
    raises is caught here (after a ``gc.collect()``), not in whichever test collects it later."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not unclosed, f"left to the garbage collector: {unclosed}"
