"""Hostile input to the email channel's pure parts: HTML, MIME parts, templates."""

from __future__ import annotations

from typing import Any

import pytest

from channels.email.compose import TemplateRenderError, render
from channels.email.message import MAX_PARTS, html_to_text, parse_message
from tests.support.hostile_mail import repeated_a_message


def test_repeated_a_is_read_as_the_text_before_it() -> None:
    parsed = parse_message(repeated_a_message())
    assert parsed.text == "Bonjour,"
    assert html_to_text("<p>un</p>" + "<a " * 3) == "un"
    assert html_to_text("a < b et c > d<br>e &amp; f<!-- g -->h") == "a < b et c > d\ne & fh"


def test_a_message_of_100000_parts_is_read_up_to_the_cap() -> None:
    parts = "".join(
        f"--b\r\nContent-Type: text/plain\r\n\r\npart {index}\r\n" for index in range(100_000)
    )
    raw = f"Subject: parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n{parts}--b--\r\n"
    parsed = parse_message(raw.encode())
    assert any("boundary lines" in defect for defect in parsed.defects)
    assert any(f"more than {MAX_PARTS} MIME parts" in defect for defect in parsed.defects)
    assert parsed.text.startswith("part 0\npart 1\n")
    assert parsed.text.count("part ") == MAX_PARTS - 1  # the multipart itself is one


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{% for i in range(10**9) %}x{% endfor %}", "range"),
        ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", "range"),
        ("{{ 'x' * 10**9 }}", "too large"),
        ("{{ [1] * 10**9 }}", "too large"),
        ("{{ 2 ** 100000 }}", "too large"),
        ("{% for i in range(5000) %}{{ 'x' * 1000 }}{% endfor %}", "exceed 1000000 characters"),
        ("{{ structure.update(name='pirate') }}", "update"),
        ("{{ structure.name.__class__.__mro__ }}", "__class__"),
    ],
)
def test_a_runaway_or_unsafe_template_is_a_render_error(template: str, expected: str) -> None:
    structure: dict[str, Any] = {"name": "Mairie"}
    with pytest.raises(TemplateRenderError, match=r"template s\.body: .*") as raised:
        render(template, "s.body", {"structure": structure})
    assert expected in str(raised.value)
    assert structure == {"name": "Mairie"}  # the immutable sandbox changed nothing
