"""Cells written for spreadsheets: formulas made inert, numbers untouched, names made safe."""

from __future__ import annotations

import csv
import io

import pytest

from config.cells import (
    SafeCsvWriter,
    SafeDictWriter,
    file_stem,
    inert_cell,
    read_cell,
    sheet_title,
)


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+33 1 64 81 00 11", "'+33 1 64 81 00 11"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Mairie", "Mairie"),
        ("", ""),
        ("'quoted", "'quoted"),
    ],
)
def test_text_starting_like_a_formula_is_quoted_and_read_back(text: str, written: str) -> None:
    assert inert_cell(text) == written
    assert read_cell(written) == text


def test_numbers_and_missing_values_stay_as_they_are() -> None:
    assert inert_cell(-3.5) == -3.5
    assert inert_cell(-2) == -2
    assert inert_cell(None) is None
    out = io.StringIO()
    writer = SafeDictWriter(out, ("name", "score", "rank"))
    writer.writeheader()
    writer.writerow({"name": "=cmd|' /C calc'!A0", "score": -3.5})
    SafeCsvWriter(out).writerow(["-x", -1, None])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["name", "score", "rank"],
        ["'=cmd|' /C calc'!A0", "-3.5", ""],
        ["'-x", "-1", ""],
    ]


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("a/b[c]:d*?e", "a_b_c__d__e"),
        ("", "results"),
        ("History", "results"),
        ("'quoted'", "quoted"),
        ("x" * 40, "x" * 31),
        ("2026-pre-elections", "2026-pre-elections"),
    ],
)
def test_sheet_titles(name: str, title: str) -> None:
    assert sheet_title(name) == title


def test_file_stems() -> None:
    assert file_stem("../../etc/passwd", "x") == "etc_passwd"
    assert file_stem("21770001800011", "x") == "21770001800011"
    assert file_stem("..", "fallback") == "fallback"
    assert file_stem("a b/c", "x") == "a_b_c"
