"""The ``prober`` command line: one module per command group, assembled in ``main``.

Commands parse their options, call one function of the application, and print its result.
"""

from __future__ import annotations

from prober.cli.main import app, main

__all__ = ["app", "main"]
