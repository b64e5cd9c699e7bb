"""``prober demo`` and ``prober sandbox``: the only commands that load the simulated world.

Production never depends on the sandbox: both commands import it when they run, and say what to
install when it is missing (it ships with the source checkout, not with the wheel).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from prober.cli.output import console
from prober.errors import ProberError
from prober.runtime.log_lines import configure_logging


def _require_sandbox() -> None:
    if importlib.util.find_spec("sandbox") is None or importlib.util.find_spec("aiosmtpd") is None:
        raise ProberError(
            "the simulated world is not installed: from a source checkout, "
            "`pip install -e '.[sandbox]'` (or `make demo`)"
        )


def demo(
    folder: Annotated[Path, typer.Argument(help="Where the demo project is (re)created.")] = Path(
        "demo"
    ),
    world: Annotated[
        Path | None,
        typer.Option(help="A sandbox world file (docs/sandbox.md) instead of the bundled one."),
    ] = None,
    structures: Annotated[
        Path | None,
        typer.Option(help="Structures (CSV or annuaire JSON) instead of the bundled samples."),
    ] = None,
) -> None:
    """A whole wave, phone and email, against the simulated world, in about two minutes.

    Exits non-zero when a measured call, a reply or a directory correction differs from the
    sandbox's ground truth.
    """
    _require_sandbox()
    for path in (world, structures):
        if path is not None and not path.is_file():
            raise ProberError(f"{path}: no such file")
    # Loads the sandbox, and only when asked: production code never does.
    from prober.demo.run import run_demo

    configure_logging("text", level=40)  # errors only: the progress bars tell the story
    result = run_demo(folder, console, world=world, structures=structures)
    if (
        result.calls_matching != result.calls
        or result.replies_stored != result.replies_sent
        or result.sites_matching != result.sites
        or result.corrections_differing
    ):
        raise ProberError(
            "the measurements differ from the sandbox's ground truth: see the table above"
        )
    if result.cost is not None and not result.cost.matches:
        raise ProberError(
            f"prober counts {result.cost.spent} spent on calls, the sandbox charged"
            f" {result.cost.charged}: see the cost line above"
        )


def sandbox(
    context: typer.Context,
    account_sid: Annotated[str, typer.Option(help="The simulated account's SID (AC...).")],
    auth_token: Annotated[str, typer.Option(help="The auth token clients must present.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8099,
    calls_per_second: Annotated[
        float, typer.Option(help="Calls started per second; the others queue.")
    ] = 1.0,
    world: Annotated[
        Path | None, typer.Option(help="TOML world file: how each called number behaves.")
    ] = None,
    time_scale: Annotated[
        float, typer.Option(help="Real seconds per simulated second (0.01: 100 times faster).")
    ] = 1.0,
    truth: Annotated[
        Path | None, typer.Option(help="Ground-truth log (JSON lines), one line per call.")
    ] = None,
) -> None:
    """Serve the simulated Twilio API (and mailboxes) on loopback; see docs/sandbox.md.

    Any other option of `python -m sandbox` (--smtp-port, --mail-world, --relay-port,
    --mail-truth, --max-concurrent-requests, --fail-creates-after-commit...) is passed on.
    """
    _require_sandbox()
    from sandbox.__main__ import main as sandbox_main

    arguments = [
        "--host", host,
        "--port", str(port),
        "--account-sid", account_sid,
        "--auth-token", auth_token,
        "--calls-per-second", str(calls_per_second),
        "--time-scale", str(time_scale),
    ]  # fmt: skip
    if world is not None:
        arguments += ["--world", str(world)]
    if truth is not None:
        arguments += ["--truth", str(truth)]
    code = sandbox_main([*arguments, *context.args])
    if code:
        raise typer.Exit(code)
