"""Composing probe emails, and the clues that lead a reply back to its probe."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from channels.email.compose import (
    EmailTemplates,
    TemplateRenderError,
    compose,
    new_reply_token,
    plus_address,
    reference_text,
    token_in_address,
)
from channels.email.matching import MatchKey, match_keys, message_ids, token_of_message_id

TEMPLATES = EmailTemplates(
    scenario_id="etat-civil-email",
    subject="Demande d'acte de naissance — {{ structure.name }}",
    body="Madame, Monsieur,\n\nJe m'adresse à {{ structure.name }}.\n\n"
    "{{ persona.display_name }}\n",
    html_body="<p>Je m'adresse à {{ structure.name }}.</p>",
)
PERSONA = {"display_name": "Marie Dupont", "reply_mailbox": "marie.dupont@probes.example.org"}
STRUCTURE = {"name": "Mairie de Bois-le-Roi"}
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
TOKEN = "k7q2m6xab3cdef45"  # noqa: S105 (a reply token, not a password)


def composed(**overrides: object) -> object:
    arguments: dict[str, object] = {
        "token": TOKEN,
        "persona": PERSONA,
        "structure": STRUCTURE,
        "recipient": "accueil@boisleroi.example.fr",
        "now": NOW,
    }
    arguments.update(overrides)
    return compose(TEMPLATES, **arguments)  # type: ignore[arg-type]


def test_the_email_carries_its_token_in_address_message_id_and_subject() -> None:
    token = new_reply_token()
    email = compose(
        TEMPLATES,
        token=token,
        persona=PERSONA,
        structure=STRUCTURE,
        recipient="accueil@boisleroi.example.fr",
        now=NOW,
    )
    assert email.token == token and len(token) == 16
    assert email.sender == f"marie.dupont+{token}@probes.example.org"
    message = message_from_bytes(email.raw, policy=policy.default)
    assert message["From"].addresses[0].addr_spec == email.sender
    assert message["Reply-To"].addresses[0].addr_spec == email.sender
    assert message["To"] == "accueil@boisleroi.example.fr"
    assert message["Message-ID"] == email.message_id
    assert email.message_id.startswith(f"<{token}.") and email.message_id.endswith(
        "@probes.example.org>"
    )
    assert (
        message["Subject"]
        == f"Demande d'acte de naissance — Mairie de Bois-le-Roi (réf. {reference_text(token)})"
    )
    assert message["Date"] == "Mon, 23 Nov 2026 09:30:00 +0000"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().startswith("Madame, Monsieur,")
    assert "Mairie de Bois-le-Roi" in html.get_content()
    # Nothing that would suppress the auto-replies we want to observe.
    for header in ("Auto-Submitted", "Precedence", "X-Auto-Response-Suppress"):
        assert header not in message


def test_tokens_are_random_80_bits_and_each_email_has_its_own_message_id() -> None:
    tokens = {new_reply_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(re.fullmatch(r"[a-z2-7]{16}", token) for token in tokens)  # 16 x 5 bits
    assert reference_text("k7q2m6xab3cdef45") == "K7Q2-M6XA-B3CD-EF45"
    first, again = composed(), composed()
    assert first.token == again.token == TOKEN  # type: ignore[attr-defined]
    assert first.message_id != again.message_id  # type: ignore[attr-defined]


def test_template_errors_name_the_template() -> None:
    broken = EmailTemplates("x", subject="{{ structure.nom }}", body="ok")
    with pytest.raises(TemplateRenderError, match=r"template x.subject: .*nom"):
        compose(broken, token=TOKEN, persona=PERSONA, structure=STRUCTURE,
                recipient="a@b.fr", now=NOW)  # fmt: skip
    with pytest.raises(TemplateRenderError, match="not an address"):
        plus_address("marie.dupont", TOKEN)


def test_plus_address_tokens() -> None:
    assert (
        plus_address("marie+mairie@p.org", "k7q2m6xab3cdef45")
        == "marie+mairie+k7q2m6xab3cdef45@p.org"
    )
    assert token_in_address("Marie <marie+mairie+k7q2m6xab3cdef45@p.org>") == "k7q2m6xab3cdef45"
    assert token_in_address("MARIE+K7Q2M6XAB3CDEF45@P.ORG") == "k7q2m6xab3cdef45"
    assert token_in_address("marie+mairie@p.org") is None
    assert token_in_address("marie@p.org") is None


def test_match_keys_in_order_of_trust() -> None:
    keys = match_keys(
        in_reply_to="<k7q2m6xab3cdef45.1a2b@probes.example.org>",
        references="<older@x> <k7q2m6xab3cdef45.1a2b@probes.example.org>",
        recipients=["marie.dupont+k7q2m6xab3cdef45@probes.example.org", "autre@x.fr"],
        subject="RE: Demande (réf. K7Q2-M6XA-B3CD-EF45)",
        returned_message_ids=["<k7q2m6xab3cdef45.1a2b@probes.example.org>"],
    )
    assert [key.method for key in keys] == [
        "in_reply_to",
        "references",
        "references",
        "returned_message",
        "address_token",
        "subject_token",
    ]
    assert keys[-1] == MatchKey("subject_token", token="k7q2m6xab3cdef45")  # noqa: S106
    assert message_ids(None) == []
    assert token_of_message_id("<k7q2m6xab3cdef45.1a2b@probes.example.org>") == "k7q2m6xab3cdef45"
    assert token_of_message_id("<CAF=x@mail.gmail.com>") is None
    # Undashed, as someone may type it back; an 8-character token of the old scheme is nothing.
    [undashed] = match_keys(in_reply_to=None, references=None, recipients=[],
                            subject="réf: k7q2m6xab3cdef45")  # fmt: skip
    assert undashed.token == "k7q2m6xab3cdef45"  # noqa: S105
    assert match_keys(in_reply_to=None, references=None, recipients=["m+abcdefgh@p.org"],
                      subject="(réf. ABCDEFGH)") == []  # fmt: skip
    assert match_keys(in_reply_to=None, references=None, recipients=[], subject="Bonjour") == []
