"""``prober mail``: the email channel's commands that need no project."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from channels.email.classify import Classification, classify
from channels.email.message import ParsedMessage, parse_message
from prober.errors import ProberError

mail_app = typer.Typer(no_args_is_help=True, help="Email probes: read and classify replies.")


@mail_app.command("classify")
def mail_classify(
    files: Annotated[list[Path], typer.Argument(help="Raw messages (.eml), one per file.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
) -> None:
    """Say what each message is: human reply, acknowledgement, out of office, bounce, other.

    Files are read in order; the command stops at the first one that cannot be read.
    """
    for path in files:
        message = parse_message(_read(path))
        classification = classify(message)
        if as_json:
            line = json.dumps(_as_json(path, message, classification), ensure_ascii=False)
        else:
            line = _as_text(path, classification)
        sys.stdout.write(line + "\n")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ProberError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def _as_text(path: Path, classification: Classification) -> str:
    line = f"{path}: {classification.kind.value} ({classification.reason})"
    bounce = classification.bounce
    if bounce is not None:
        details = [
            f"recipient(s) {', '.join(bounce.recipients)}" if bounce.recipients else "",
            f"status {bounce.status}" if bounce.status else "",
            "delayed, not final" if bounce.action == "delayed" else "",
        ]
        line += "".join(f"; {detail}" for detail in details if detail)
    return line


def _as_json(path: Path, message: ParsedMessage, classification: Classification) -> dict[str, Any]:
    data: dict[str, Any] = {
        "file": str(path),
        "kind": classification.kind.value,
        "reason": classification.reason,
        "subject": message.subject,
        "from": message.from_address,
        "message_id": message.message_id,
        "in_reply_to": message.in_reply_to,
        "defects": list(message.defects),
    }
    bounce = classification.bounce
    if bounce is not None:
        data["bounce"] = {
            "recipients": list(bounce.recipients),
            "status": bounce.status,
            "action": bounce.action,
            "permanent": bounce.permanent,
            "diagnostic": bounce.diagnostic,
        }
    return data
