"""Reading raw messages: every real sample, and every way a message can be broken."""

from __future__ import annotations

import base64
import csv
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage, Message
from pathlib import Path

import pytest

from channels.email import message as message_module
from channels.email.message import decode_header_text, html_to_text, parse_message

DATA = Path(__file__).resolve().parent.parent / "data"
CORPUS = DATA / "email-corpora"


def sample_files() -> list[Path]:
    files: list[Path] = []
    for folder in (DATA / "email-corpora", DATA / "email-french"):
        with (folder / "labels.csv").open(encoding="utf-8") as handle:
            files.extend(folder / row["file"] for row in csv.DictReader(handle))
    return files


@pytest.mark.parametrize("path", sample_files(), ids=lambda path: path.name)
def test_every_sample_parses(path: Path) -> None:
    raw = path.read_bytes()
    parsed = parse_message(raw)
    assert parsed.size == len(raw)
    assert parsed.date is None or parsed.date.tzinfo is not None
    assert "\r" not in parsed.text
    assert all("\udc80" > char or char > "\udcff" for char in parsed.subject)


def test_headers_addresses_and_ids_are_plain_values() -> None:
    parsed = parse_message(
        (DATA / "email-french/oof-exchange-reponse-automatique.eml").read_bytes()
    )
    assert parsed.subject == "Réponse automatique : Demande d'information"
    assert parsed.from_address == "sophie.dupont@agglo-exemple.example"
    assert parsed.from_name == "DUPONT Sophie"
    assert parsed.to == ("r-3f9c2a7b@probes.example",)
    assert parsed.message_id == "AM0PR02MB5555E1@AM0PR02MB5555.eurprd02.prod.outlook.com"
    assert parsed.in_reply_to == "3f9c2a7b.k2m9@probes.example"
    assert parsed.references == ("3f9c2a7b.k2m9@probes.example",)
    assert parsed.return_path == ""
    assert parsed.date == datetime(2027, 3, 10, 9, 11, 10, tzinfo=UTC)
    assert parsed.headers.get("x-ms-exchange-inbox-rules-loop") is not None
    assert parsed.text.startswith("Bonjour,\n\nJe suis absente du bureau")


def test_encoded_words_in_odd_charsets_are_decoded() -> None:
    utf7 = parse_message((CORPUS / "alaveteli-fixtures/utf-7-subject.eml").read_bytes())
    assert utf7.subject == "Vaše emailová zpráva byla převzata"
    assert utf7.from_name == "Epodatelna"
    latin1 = parse_message(
        (CORPUS / "alaveteli-fixtures/quoted-subject-iso8859-1.eml").read_bytes()
    )
    assert latin1.subject == "Câmara Responde:  Banco de ideias"
    assert latin1.from_name.startswith("Coordenação de Relacionamento, Pesquisa")
    jis = parse_message((CORPUS / "sisimai-set-of-emails/lhost-exchange2007-04.eml").read_bytes())
    assert jis.subject.startswith("Undeliverable: キジトラ")


def test_alaveteli_templates_parse_with_their_placeholders() -> None:
    parsed = parse_message((CORPUS / "alaveteli-fixtures/incoming-request-plain.eml").read_bytes())
    assert parsed.from_address == "EMAIL_FROM"
    assert parsed.subject.startswith("Re: Freedom of Information Request")
    assert parsed.date is None
    assert "no Date header" in parsed.defects


def test_attachments_are_metadata_only() -> None:
    parsed = parse_message((CORPUS / "alaveteli-fixtures/document-pdf.eml").read_bytes())
    assert [(a.content_type, a.filename) for a in parsed.attachments] == [
        ("application/pdf", "tiny-example.pdf")
    ]
    assert parsed.attachments[0].size > 1000


def test_a_dsn_gives_its_report_type_and_field_blocks() -> None:
    parsed = parse_message((CORPUS / "sisimai-set-of-emails/lhost-postfix-01.eml").read_bytes())
    assert parsed.content_type == "multipart/report"
    assert parsed.report_type == "delivery-status"
    per_message, per_recipient = parsed.delivery_status
    assert per_message.get("Reporting-MTA") is not None
    assert per_recipient.get("action") == "failed"
    assert per_recipient.get("Status") == "5.1.1"


def test_a_report_whose_boundary_matches_nothing_is_re_read() -> None:
    parsed = parse_message((CORPUS / "sisimai-set-of-emails/rhost-franceptt-07.eml").read_bytes())
    assert parsed.report_type == "delivery-status"
    assert [block.get("Action") for block in parsed.delivery_status[1:]] == ["failed"]
    assert any("re-read" in defect for defect in parsed.defects)


def test_an_html_only_message_is_read_as_text_and_kept_raw() -> None:
    parsed = parse_message((DATA / "email-french/ack-formulaire-html-seul.eml").read_bytes())
    assert parsed.html is not None and "<script>" in parsed.html
    assert "Ceci est un message automatique." in parsed.text
    assert "sous le numéro 88121" in parsed.text
    assert "document.write" not in parsed.text
    assert "color" not in parsed.text


def test_html_to_text_drops_tags_scripts_and_styles() -> None:
    html = "<html><head><style>p{x}</style></head><body><p>Un&nbsp;&amp; deux</p><br/>trois"
    assert html_to_text(html + "<script>alert(1)</script></body></html>") == "Un & deux\n\ntrois"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage \x80\x81",
        b"no headers at all, just a line\n",
        b"Subject: only headers",
        b"Subject: =?x-unknown?B?SGVsbG8=?= =?utf-8?B?bm90IGJhc2U2NA?=\n\nbody",
        b"Subject: caf\xc3\xa9 \xe9t\xe9\nFrom: \xff <a@b>\n\nbody",
        b"Date: the day after tomorrow\nFrom: <<<>>>@@\nTo: ,,,;;;\n\nx",
        b"Content-Type: text/plain; charset=x-no-such-charset\n\ncaf\xe9",
        b"Content-Type: text/plain; charset=base64\n\ncaf\xe9",
        b"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!not base64!!!",
        b"Content-Type: text/plain\nContent-Transfer-Encoding: x-unknown\n\nabc",
        b'Content-Type: multipart/mixed; boundary="zz"\n\n--zz\nbroken part without end',
        b"Content-Type: multipart/mixed\n\nno boundary parameter",
        b"Content-Type: message/rfc822\n\nnot: a message\n\x00\x01",
        b"Content-Type: message/delivery-status\n\nAction failed without colon",
        b"Subject: \x1b$B%-%8\n\n",
        b"Content-Type: text/plain; charset*=utf-8''%E2%82%AC\n\nx",
    ],
)
def test_broken_input_never_raises(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert parsed.size == len(raw)
    assert isinstance(parsed.text, str)


def test_unknown_and_wrong_charsets_are_read_and_reported() -> None:
    unknown = parse_message(b"Content-Type: text/plain; charset=x-foo\n\ncaf\xc3\xa9")
    assert unknown.text == "café"
    assert "unknown charset 'x-foo' in text/plain" in unknown.defects
    wrong = parse_message(b"Content-Type: text/plain; charset=us-ascii\n\ncaf\xc3\xa9")
    assert wrong.text == "café"
    assert "text/plain declared 'us-ascii' but reads as utf-8" in wrong.defects
    latin = parse_message(b"Content-Type: text/plain; charset=utf-8\n\ncaf\xe9")
    assert latin.text == "café"


def test_raw_8bit_headers_are_read_as_utf8_then_windows_1252() -> None:
    parsed = parse_message(
        b"Subject: caf\xc3\xa9 et th\xe9\nFrom: Ren\xc3\xa9 <rene@x.example>\n\n."
    )
    assert parsed.subject == "café et thé"
    assert parsed.from_name == "René"


def test_decode_header_text_joins_adjacent_encoded_words() -> None:
    assert decode_header_text("=?utf-8?q?R=C3=A9ponse?= =?utf-8?q?_automatique?=") == (
        "Réponse automatique"
    )
    assert decode_header_text("=?unknown?q?abc?=") == "abc"


def test_dates_are_aware_and_bad_ones_reported() -> None:
    paris = parse_message(b"Date: Tue, 02 Mar 2027 10:00:00 +0100\n\n.")
    assert paris.date == datetime(2027, 3, 2, 10, tzinfo=timezone(timedelta(hours=1)))
    unknown_zone = parse_message(b"Date: Tue, 02 Mar 2027 10:00:00 -0000\n\n.")
    assert unknown_zone.date == datetime(2027, 3, 2, 10, tzinfo=UTC)
    bad = parse_message(b"Date: 29-04-2017 23:34\n\n.")
    assert bad.date is None
    assert "unreadable Date header '29-04-2017 23:34'" in bad.defects


def test_deep_nesting_is_cut_not_fatal() -> None:
    depth = 300
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (level, level)
        for level in range(depth)
    )
    raw = b"Subject: deep\n" + head + b"Content-Type: text/plain\n\nbottom\n"
    parsed = parse_message(raw)
    assert parsed.subject == "deep"
    assert any("nested deeper" in defect for defect in parsed.defects)


def big_message(attachment_bytes: int, text: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Agent <agent@mairie.example>"
    mail["Subject"] = "Plan cadastral"
    mail.set_content(text)
    mail.add_attachment(
        b"\x89PNG" + b"\x00" * attachment_bytes, maintype="image", subtype="png", filename="p.png"
    )
    return mail.as_bytes()


def test_above_the_size_cap_text_is_cut_and_attachments_estimated() -> None:
    raw = big_message(3_000_000, "Bonjour, voici le plan.\n" + "ligne de texte\n" * 20_000)
    parsed = parse_message(raw, max_size=1_000_000, kept_text_bytes=1_000)
    assert parsed.truncated
    assert parsed.subject == "Plan cadastral"
    assert parsed.text.startswith("Bonjour, voici le plan.")
    assert len(parsed.text.encode()) <= 1_000
    (attachment,) = parsed.attachments
    assert attachment.filename == "p.png"
    assert abs(attachment.size - 3_000_004) < 100
    assert any("over the 1000000-byte cap" in defect for defect in parsed.defects)


def test_below_the_size_cap_everything_is_read() -> None:
    raw = big_message(1000, "Bonjour.\n" * 100)
    parsed = parse_message(raw)
    assert not parsed.truncated
    assert parsed.text.count("Bonjour.") == 100
    assert parsed.attachments[0].size == 1004


def test_when_the_default_policy_fails_compat32_takes_over(monkeypatch: pytest.MonkeyPatch) -> None:
    read = message_module._read

    def fail_on_default_policy(msg: Message, *args: object) -> object:
        if isinstance(msg, EmailMessage):
            raise IndexError("a parser edge case")
        return read(msg, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(message_module, "_read", fail_on_default_policy)
    parsed = parse_message(b"Subject: =?utf-8?b?w6l0w6k=?=\nFrom: a@b.example\n\nbody\n")
    assert parsed.subject == "été"
    assert parsed.text == "body\n"
    assert parsed.defects[0] == (
        "parser with policy default failed: IndexError('a parser edge case')"
    )


def test_when_every_parser_fails_headers_and_text_are_still_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def always_fail(*args: object) -> object:
        raise RecursionError("too deep")

    monkeypatch.setattr(message_module, "_read", always_fail)
    raw = b"Subject: =?utf-8?b?w6l0w6k=?=\r\nFrom: Agent <a@b.example>\r\n\r\nbody " + b"x" * 100
    parsed = parse_message(raw, kept_text_bytes=10)
    assert parsed.subject == "été"
    assert parsed.from_address == "a@b.example"
    assert parsed.text == "body xxxxx"
    assert parsed.truncated
    assert len([d for d in parsed.defects if d.startswith("parser with policy")]) == 2


def test_base64_body_is_decoded() -> None:
    body = base64.b64encode("Nous avons bien reçu votre message.".encode()).decode()
    raw = (
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + body
    ).encode()
    assert parse_message(raw).text == "Nous avons bien reçu votre message."
