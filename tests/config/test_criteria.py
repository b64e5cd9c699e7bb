"""Criteria grids: the shipped grid encodes the commitments; bad rules are refused; evaluate."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.criteria import CriteriaGrid, Rule, evaluate, load_criteria
from config.errors import InvalidFileError, Problem
from config.shipped import shipped_path

HEADER = 'version = 1\nname = "Grille de test"\n'


def criterion(
    criterion_id: str = "phone.answered",
    *,
    channel: str = "phone",
    kind: str = "objective",
    rule: str = 'metric = "answered"\nop = "=="\nthreshold = true\n',
) -> str:
    text = (
        f'\n[[criterion]]\nid = "{criterion_id}"\nchannel = "{channel}"\nkind = "{kind}"\n'
        'title = "Décroché"\nindex = "accessibility"\n'
    )
    return text + (f"[criterion.rule]\n{rule}" if rule else "")


def write(tmp_path: Path, *criteria: str) -> Path:
    path = tmp_path / "criteria.toml"
    path.write_text(HEADER + "".join(criteria), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(InvalidFileError) as caught:
        load_criteria(path)
    assert caught.value.path == path
    return caught.value.problems


@pytest.fixture(scope="module")
def shipped_grid() -> CriteriaGrid:
    return load_criteria(shipped_path("criteria.toml"))


def rule_of(grid: CriteriaGrid, criterion_id: str) -> Rule:
    (found,) = [c for c in grid.criteria if c.id == criterion_id]
    assert found.rule is not None
    return found.rule


def test_shipped_grid_encodes_the_commitments(shipped_grid: CriteriaGrid) -> None:
    rings = rule_of(shipped_grid, "phone.answered_within_5_rings")
    assert (rings.metric, rings.op, rings.threshold, rings.applies_when) == (
        "rings_to_answer",
        "<=",
        5,
        "answered",
    )
    email = rule_of(shipped_grid, "email.replied_within_5_working_days")
    assert (email.metric, email.op, email.threshold) == ("email_reply_working_days", "<=", 5)
    letter = rule_of(shipped_grid, "letter.replied_within_15_working_days")
    assert (letter.metric, letter.op, letter.threshold) == ("letter_reply_working_days", "<=", 15)
    ack = rule_of(shipped_grid, "email.acknowledged_within_7_days")
    assert (ack.metric, ack.threshold) == ("email_ack_days", 7)


def test_shipped_grid_covers_every_channel_and_both_kinds(shipped_grid: CriteriaGrid) -> None:
    channels = ("phone", "email", "letter", "web")
    for channel in channels:
        criteria = shipped_grid.for_channel(channel)
        assert criteria, channel
        assert {c.channel for c in criteria} == {channel}
    kinds = {(c.channel, c.kind) for c in shipped_grid.criteria}
    assert {("phone", "reviewed"), ("email", "reviewed")} <= kinds
    assert sum(len(shipped_grid.for_channel(c)) for c in channels) == len(shipped_grid.criteria)
    web = {c.id: c.rule.metric for c in shipped_grid.for_channel("web") if c.rule is not None}
    assert web == {
        "web.site_reachable": "site_reachable",
        "web.accessibility_statement": "accessibility_statement_published",
        "web.contact_information_consistent": "contact_information_consistent",
        "web.contact_form": "contact_form",
    }


def test_yes_no_metric_refuses_a_number(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        criterion("phone.answered"),
        criterion(
            "phone.by_agent", rule='metric = "answered_by_human"\nop = "=="\nthreshold = 1\n'
        ),
    )

    problems = problems_of(path)

    assert [(p.column, p.line) for p in problems] == [("criterion[1].rule.threshold", 24)]
    assert "expected true or false" in problems[0].message
    assert "'answered_by_human'" in problems[0].message


def test_yes_no_metric_takes_only_equality(tmp_path: Path) -> None:
    path = write(tmp_path, criterion(rule='metric = "answered"\nop = "<"\nthreshold = true\n'))

    problems = problems_of(path)

    assert [(p.column, p.line) for p in problems] == [("criterion[0].rule.op", 12)]
    assert "expected == or !=" in problems[0].message


def test_numeric_metric_refuses_a_boolean(tmp_path: Path) -> None:
    path = write(
        tmp_path, criterion(rule='metric = "rings_to_answer"\nop = "<="\nthreshold = true\n')
    )

    problems = problems_of(path)

    assert [p.column for p in problems] == ["criterion[0].rule.threshold"]
    assert "expected a number" in problems[0].message


def test_unknown_metric_lists_the_vocabulary(tmp_path: Path) -> None:
    path = write(tmp_path, criterion(rule='metric = "rings"\nop = "<="\nthreshold = 5\n'))

    problems = problems_of(path)

    assert [p.column for p in problems] == ["criterion[0].rule.metric"]
    assert "rings_to_answer" in problems[0].message and "got 'rings'" in problems[0].message


def test_metric_must_belong_to_the_criterion_channel(tmp_path: Path) -> None:
    rule = 'metric = "email_ack_days"\nop = "<="\nthreshold = 7\n'
    path = write(tmp_path, criterion(channel="phone", rule=rule))

    problems = problems_of(path)

    assert [p.column for p in problems] == ["criterion[0].rule.metric"]
    assert "expected a metric of the phone channel" in problems[0].message


def test_applies_when_must_be_a_yes_no_metric(tmp_path: Path) -> None:
    rule = 'metric = "hold_seconds"\nop = "<"\nthreshold = 60\napplies_when = "ring_seconds"\n'
    path = write(tmp_path, criterion(rule=rule))

    problems = problems_of(path)

    assert [p.column for p in problems] == ["criterion[0].rule.applies_when"]


def test_rule_presence_follows_the_kind(tmp_path: Path) -> None:
    objective_without_rule = write(tmp_path, criterion(rule=""))
    problems = problems_of(objective_without_rule)
    assert [p.column for p in problems] == ["criterion[0].rule"]
    assert "needs a rule" in problems[0].message

    reviewed_with_rule = write(tmp_path, criterion(kind="reviewed"))
    problems = problems_of(reviewed_with_rule)
    assert [(p.column, p.line) for p in problems] == [("criterion[0].rule", 10)]
    assert "takes no rule" in problems[0].message


def test_duplicate_ids_name_both_entries(tmp_path: Path) -> None:
    path = write(tmp_path, criterion("a"), criterion("b"), criterion("a"))

    problems = problems_of(path)

    assert [(p.column, p.line) for p in problems] == [("criterion[2].id", 27)]
    assert "'a'" in problems[0].message and "criterion[0]" in problems[0].message


def test_weight_must_be_positive_and_version_known(tmp_path: Path) -> None:
    path = tmp_path / "criteria.toml"
    text = HEADER.replace("version = 1", "version = 2") + criterion().replace(
        'kind = "objective"\n', 'kind = "objective"\nweight = 0\n'
    )
    path.write_text(text, encoding="utf-8")

    problems = problems_of(path)

    assert [(p.column, p.line) for p in problems] == [
        ("version", 1),
        ("criterion[0].weight", 8),
    ]
    assert "got 2" in problems[0].message
    assert problems[1].message == "expected a number greater than 0, got 0"


def test_grid_can_be_built_in_code_with_the_plural_name() -> None:
    rule = Rule(metric="answered", op="==", threshold=True)
    grid = CriteriaGrid.model_validate(
        {
            "version": 1,
            "name": "g",
            "criteria": [
                {
                    "id": "e",
                    "channel": "email",
                    "kind": "reviewed",
                    "title": "t",
                    "index": "quality",
                },
                {
                    "id": "p",
                    "channel": "phone",
                    "kind": "objective",
                    "title": "t",
                    "index": "accessibility",
                    "rule": rule,
                },
            ],
        }
    )

    assert [c.id for c in grid.for_channel("phone")] == ["p"]


@pytest.mark.parametrize(
    ("op", "threshold", "value", "expected"),
    [
        ("<=", 5, 5, True),
        ("<=", 5, 6, False),
        ("<", 5, 5, False),
        ("<", 30, 29.5, True),
        (">", 0.85, 0.9, True),
        (">=", 7, 6, False),
        ("!=", 3, 3, False),
    ],
)
def test_evaluate_numeric_rules(op: str, threshold: float, value: float, expected: bool) -> None:
    rule = Rule.model_validate({"metric": "rings_to_answer", "op": op, "threshold": threshold})

    assert evaluate(rule, value) is expected


@pytest.mark.parametrize(
    ("op", "threshold", "value", "expected"),
    [("==", True, True, True), ("==", True, False, False), ("!=", True, False, True)],
)
def test_evaluate_yes_no_rules(op: str, threshold: bool, value: bool, expected: bool) -> None:
    rule = Rule.model_validate({"metric": "answered", "op": op, "threshold": threshold})

    assert evaluate(rule, value) is expected


def test_evaluate_without_a_measure_is_none() -> None:
    assert evaluate(Rule(metric="hold_seconds", op="<", threshold=60), None) is None
    assert evaluate(Rule(metric="answered", op="==", threshold=True), None) is None


def test_evaluate_refuses_a_value_of_the_wrong_kind() -> None:
    with pytest.raises(TypeError):
        evaluate(Rule(metric="rings_to_answer", op="<=", threshold=5), True)
    with pytest.raises(TypeError):
        evaluate(Rule(metric="answered", op="==", threshold=True), 1)


def test_shipped_reviewed_criteria_carry_anchors(shipped_grid: CriteriaGrid) -> None:
    reviewed = [c for c in shipped_grid.criteria if c.kind == "reviewed"]
    assert reviewed
    for found in reviewed:
        assert found.anchors is not None, found.id
        assert found.anchors.passed and found.anchors.failed


ANCHORS = '[criterion.anchors]\npassed = ["dit bonjour"]\nfailed = ["ne dit rien"]\n'


def test_anchors_are_read_and_checked_with_file_line_and_field(tmp_path: Path) -> None:
    good = write(tmp_path, criterion("phone.courtesy", kind="reviewed", rule="") + ANCHORS)
    (found,) = load_criteria(good).criteria
    assert found.anchors is not None
    assert (found.anchors.passed, found.anchors.failed) == (["dit bonjour"], ["ne dit rien"])

    blank = write(
        tmp_path,
        criterion("phone.courtesy", kind="reviewed", rule="")
        + '[criterion.anchors]\npassed = ["dit bonjour", "  "]\nfailed = []\n',
    )
    problems = problems_of(blank)
    assert sorted(str(p.column) for p in problems) == [
        "criterion[0].anchors.failed",
        "criterion[0].anchors.passed[1]",
    ]
    assert all(p.line == 11 or p.line == 12 for p in problems), problems

    on_objective = write(tmp_path, criterion() + ANCHORS)
    problems = problems_of(on_objective)
    assert [p.column for p in problems] == ["criterion[0].anchors"]
    assert "objective criterion is judged by its rule" in problems[0].message
