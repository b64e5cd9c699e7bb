"""``python -m prober``."""

from prober.cli import main

main()
