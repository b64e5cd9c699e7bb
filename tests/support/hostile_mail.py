"""Messages an attacker would send to the reply mailbox (tests and bench/hostile_mail.py)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid

REPEATED_A_BYTES = 117 * 1024


def repeated_a_message(size: int = REPEATED_A_BYTES) -> bytes:
    """An HTML-only message whose body is ``<a `` repeated: quadratic for ``html.parser``
    (CVE-2025-6069; 117 KiB took 152 s before prober read HTML in one pass)."""
    head = (
        "From: Agent <agent@mairie-exemple.fr>\r\n"
        "To: marie.dupont@probes.test\r\n"
        "Subject: Re: votre demande\r\n"
        f"Date: {format_datetime(datetime.now(UTC))}\r\n"
        f"Message-ID: {make_msgid(domain='mairie-exemple.fr')}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "\r\n"
        "<html><body><p>Bonjour,</p>"
    ).encode()
    body = b"<a " * ((size - len(head)) // 3)
    return head + body + b"\r\n"


def large_attachment_message(attachment_bytes: int, *, subject: str = "Pièce jointe") -> bytes:
    """A short text reply with an attachment of ``attachment_bytes`` (base64 encoded)."""
    boundary = "limite-de-parties"
    payload = base64.encodebytes(bytes(range(256)) * (attachment_bytes // 256 + 1))
    return (
        (
            "From: Agent <agent@mairie-exemple.fr>\r\n"
            "To: marie.dupont@probes.test\r\n"
            f"Subject: {subject}\r\n"
            f"Date: {format_datetime(datetime.now(UTC))}\r\n"
            f"Message-ID: {make_msgid(domain='mairie-exemple.fr')}\r\n"
            "MIME-Version: 1.0\r\n"
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n'
            "\r\n"
            f"--{boundary}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n"
            "Bonjour, voici le document demandé.\r\n"
            f"--{boundary}\r\n"
            "Content-Type: application/pdf; name=acte.pdf\r\n"
            "Content-Disposition: attachment; filename=acte.pdf\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "\r\n"
        ).encode()
        + payload.replace(b"\n", b"\r\n")
        + f"--{boundary}--\r\n".encode()
    )
