"""`prober structures import` on hostile files: bounded output, no traceback, no deep recursion.

The files are generated here: a directory JSON nested a thousand levels deep (2 KB), and a CSV
of 20,000 rows of garbage (each with one problem) that must yield 100 problems, then a count.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from config.errors import MAX_PROBLEMS_LISTED
from tests.support.cli import Run

GARBAGE_ROWS = 20_000


def test_a_deeply_nested_json_is_refused_by_name(prober_cli: Run, tmp_path: Path) -> None:
    assert prober_cli("init").exit_code == 0
    deep = tmp_path / "annuaire.json"
    deep.write_text("[" * 1000 + "]" * 1000, encoding="utf-8")

    result = prober_cli("structures", "import", str(deep))

    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"prober: error: {deep}: 1 problem(s), nothing from it")
    assert "line 1: JSON nested more than 6 levels deep" in result.stderr


def test_a_deep_list_inside_a_string_is_a_problem_of_its_record(
    prober_cli: Run, tmp_path: Path
) -> None:
    """The API form encodes lists as JSON inside strings: the same limit holds there."""
    assert prober_cli("init").exit_code == 0
    record = {
        "id": "deep-1",
        "nom": "Mairie profonde",
        "code_insee_commune": "77288",
        "pivot": "[" * 5000 + "]" * 5000,
    }
    path = tmp_path / "api.json"
    path.write_text(json.dumps({"total_count": 1, "results": [record]}), encoding="utf-8")

    result = prober_cli("structures", "import", str(path))

    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert "column pivot: the JSON list inside the string nests more than 4" in result.stderr


def write_garbage(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["official_id", "name", "kind", "departement"])
        for number in range(GARBAGE_ROWS):
            writer.writerow([f"g{number}", f"garbage {number}", "mairie", "zz"])


def test_a_garbage_csv_lists_100_problems_then_counts(prober_cli: Run, tmp_path: Path) -> None:
    assert prober_cli("init").exit_code == 0
    garbage = tmp_path / "garbage.csv"
    write_garbage(garbage)

    result = prober_cli("structures", "import", str(garbage))

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"prober: error: {garbage}: 100+ problem(s), nothing from it was used:"
    problems = [line for line in lines if line.startswith("  line ")]
    assert len(problems) == MAX_PROBLEMS_LISTED == 100
    assert problems[0].startswith("  line 2, column departement: unknown département 'zz'")
    assert problems[-1].startswith("  line 101, column departement:")
    assert lines[-1] == (
        f"  and {GARBAGE_ROWS - 100} more row(s) not checked: stopped at line 101, after the"
        " first 100 problems"
    )
    assert len(lines) == 102


def test_skipping_a_garbage_csv_streams_every_row_to_the_rejects(
    prober_cli: Run, tmp_path: Path
) -> None:
    assert prober_cli("init").exit_code == 0
    garbage = tmp_path / "garbage.csv"
    write_garbage(garbage)
    with garbage.open("a", encoding="utf-8") as stream:
        stream.write('21770001,"=HYPERLINK(""http://evil.example"")",mairie,77\n')
        stream.write("21770002,Mairie de Melun,mairie,77\n")
        stream.write("21770003,=cmd|' /C calc'!A0,mairie,zz\n")

    result = prober_cli("structures", "import", str(garbage), "--skip-invalid")

    assert result.exit_code == 0, result.stderr
    assert "2 created" in result.stdout
    assert f"{GARBAGE_ROWS + 1} invalid row(s) skipped" in result.stdout
    rejects = tmp_path / "garbage.rejected.csv"
    with rejects.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == GARBAGE_ROWS + 1
    assert rows[-2]["official_id"] == f"g{GARBAGE_ROWS - 1}"
    assert rows[-2]["reason"].startswith(f"line {GARBAGE_ROWS + 1}, column departement:")
    # Opened in a spreadsheet, the rejects hold no formula; imported again, the name is back.
    assert rows[-1]["name"] == "'=cmd|' /C calc'!A0"
    text = rejects.read_text(encoding="utf-8").replace(",zz,", ",77,")
    rejects.write_text(text.splitlines()[0] + "\n" + text.splitlines()[-1] + "\n", "utf-8")
    again = prober_cli("structures", "import", str(rejects))
    assert again.exit_code == 0, again.stderr
    shown = prober_cli("structures", "show", "21770003", "--json")
    assert json.loads(shown.stdout)["name"] == "=cmd|' /C calc'!A0"
