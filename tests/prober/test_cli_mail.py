"""``prober mail classify`` run through ``main()``, outside any project and without a database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import Run

DATA = Path(__file__).resolve().parent.parent / "data"
BOUNCE = DATA / "email-corpora/sisimai-set-of-emails/lhost-postfix-01.eml"
OUT_OF_OFFICE = DATA / "email-french/oof-exchange-reponse-automatique.eml"
HUMAN = DATA / "email-french/human-absente-demain-accuse.eml"


@pytest.fixture
def prober_mail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Run:
    """``prober ARGS...`` in an empty folder: no prober.toml, no database."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROBER_DATABASE_URL", raising=False)
    return Run(monkeypatch, capsys)


def test_one_file_gives_one_readable_line(prober_mail: Run, tmp_path: Path) -> None:
    result = prober_mail("mail", "classify", str(OUT_OF_OFFICE))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"{OUT_OF_OFFICE}: out_of_office (Return-Path: <> (null sender); "
        "text says 'Je suis absente')\n"
    )
    assert list(tmp_path.iterdir()) == []  # no project, no database created


def test_a_bounce_line_names_the_recipient_and_status(prober_mail: Run) -> None:
    result = prober_mail("mail", "classify", str(BOUNCE))
    assert result.stdout == (
        f"{BOUNCE}: bounce (multipart/report; report-type=delivery-status, Action: failed); "
        "recipient(s) kijitora@example.org; status 5.1.1\n"
    )


def test_json_gives_one_object_per_file(prober_mail: Run) -> None:
    result = prober_mail("mail", "classify", "--json", str(BOUNCE), str(HUMAN))
    assert result.exit_code == 0, result.stderr
    bounce, human = (json.loads(line) for line in result.stdout.splitlines())
    assert bounce["file"] == str(BOUNCE)
    assert bounce["kind"] == "bounce"
    assert bounce["bounce"] == {
        "recipients": ["kijitora@example.org"],
        "status": "5.1.1",
        "action": "failed",
        "permanent": True,
        "diagnostic": 'procmail: Couldn\'t create "/var/spool/mail/neko" id: r.example.org: '
        "No such user",
    }
    assert human["kind"] == "human_reply"
    assert human["subject"] == "RE: Demande d'acte de naissance"
    assert human["from"] == "nathalie.roux@sainte-claire.example"
    assert human["in_reply_to"] == "3f9c2a7b.k2m9@probes.example"
    assert "bounce" not in human


def test_an_unreadable_file_is_one_error_line(prober_mail: Run, tmp_path: Path) -> None:
    missing = tmp_path / "missing.eml"
    result = prober_mail("mail", "classify", str(HUMAN), str(missing))
    assert result.exit_code == 1
    assert result.stderr == (
        f"prober: error: {missing}: cannot be read (No such file or directory)\n"
    )
    assert result.stdout.startswith(f"{HUMAN}: human_reply")
    folder = prober_mail("mail", "classify", str(tmp_path))
    assert folder.exit_code == 1
    assert folder.stderr == f"prober: error: {tmp_path}: cannot be read (Is a directory)\n"


def test_a_file_that_is_not_mail_is_still_classified(prober_mail: Run, tmp_path: Path) -> None:
    junk = tmp_path / "junk.eml"
    junk.write_bytes(b"\x00\xff not an email at all")
    result = prober_mail("mail", "classify", "--json", str(junk))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["kind"] == "human_reply"


@pytest.mark.parametrize("corpus", ["email-corpora", "email-french"])
def test_classify_over_the_labelled_corpora_meets_the_goals(prober_mail: Run, corpus: str) -> None:
    """The command itself, over every labelled file at once: accuracy per class, and the goals."""
    folder = DATA / corpus
    rows = (folder / "labels.csv").read_text(encoding="utf-8").splitlines()[1:]
    labels = {
        str(folder / row.split(",")[0]): set(row.split(",")[2].split("|")) for row in rows if row
    }
    result = prober_mail("mail", "classify", "--json", *labels)
    assert result.exit_code == 0, result.stderr
    got = {record["file"]: record["kind"] for record in map(json.loads, result.stdout.splitlines())}
    assert set(got) == set(labels)
    automatic = {"out_of_office", "auto_ack", "other_auto"}
    per_class: dict[str, list[int]] = {}
    for path, accepted in labels.items():
        label = (
            "bounce"
            if "bounce" in accepted
            else ("human" if accepted == {"human_reply"} else "automatic")
        )
        tally = per_class.setdefault(label, [0, 0])
        tally[0] += got[path] in accepted
        tally[1] += 1
    report = ", ".join(
        f"{label} {right}/{total}" for label, (right, total) in sorted(per_class.items())
    )
    bounces_missed = [p for p, a in labels.items() if "bounce" in a and got[p] != "bounce"]
    humans_as_automatic = [
        p for p, a in labels.items() if a == {"human_reply"} and got[p] in automatic
    ]
    automatic_right = sum(1 for p, a in labels.items() if a <= automatic and got[p] in automatic)
    automatic_total = sum(1 for a in labels.values() if a <= automatic)
    assert not bounces_missed, report
    assert not humans_as_automatic, report
    assert automatic_right >= 0.95 * automatic_total, report
