"""``python -m sandbox.web``: the simulated sites on loopback until stdin closes or SIGTERM.

It writes a JSON file (``--info``) with the CA file to trust, the address overrides, and each
site's URL with its ground truth, then serves. ``--showcase`` serves one site per behaviour;
``--count N`` serves N ordinary ones (the benchmark's).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from sandbox.web.server import WebSandbox
from sandbox.web.truth import site_truth
from sandbox.web.world import generated_sites, showcase_sites


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.web",
        description="Sites simulés des structures, sur la boucle locale.",
    )
    parser.add_argument("--count", type=int, default=0, help="nombre de sites ordinaires")
    parser.add_argument("--showcase", action="store_true", help="un site par comportement")
    parser.add_argument("--info", type=Path, required=True, help="fichier JSON à écrire")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    sites = (showcase_sites() if arguments.showcase else []) + generated_sites(arguments.count)
    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    with WebSandbox(sites) as sandbox:
        truths = [site_truth(site, sandbox) for site in sites]
        info = {
            "ca_file": str(sandbox.ca_file),
            "resolve": sandbox.resolve,
            "sites": [
                {
                    "behaviour": truth.site.behaviour,
                    "expected": truth.expected,
                    "outcome": truth.outcome,
                    "min_load_s": truth.min_load_s,
                    "directory_phone": truth.directory_phone,
                    "directory_email": truth.directory_email,
                    "directory_opening_hours_text": truth.directory_opening_hours_text,
                }
                for truth in truths
            ],
        }
        arguments.info.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
        sys.stdout.write("ready\n")
        sys.stdout.flush()

        def until_stdin_closes() -> None:
            sys.stdin.read()
            stop.set()

        threading.Thread(target=until_stdin_closes, daemon=True).start()
        stop.wait()


if __name__ == "__main__":
    main()
