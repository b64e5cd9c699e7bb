"""From judged contacts to a structure's score on a channel: indices, tallies, figures."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

from config.criteria import CriteriaGrid
from prober.results.scoring.model import ChannelScore, ContactFailures, ContactScore, CriterionTally

INDICES = ("accessibility", "responsiveness", "quality")


def _percent(passed: float, decided: float) -> float | None:
    return None if decided == 0 else round(100.0 * passed / decided, 1)


def _median(values: Iterable[float | int | None]) -> float | None:
    present = [float(value) for value in values if value is not None]
    return None if not present else round(statistics.median(present), 2)


def _share(flags: Sequence[bool]) -> float | None:
    return None if not flags else round(100.0 * sum(flags) / len(flags), 1)


def channel_figures(channel: str, scores: Sequence[ContactScore]) -> dict[str, float | int | None]:
    """Medians and rates a report shows beside the score."""
    measurements = [score.contact.measurement for score in scores]
    if channel == "phone":
        in_hours = [s.contact for s in scores if s.contact.slot_kind != "off_hours"]
        answered = [c.measurement for c in in_hours if c.outcome == "answered"]
        return {
            "calls": len(in_hours),
            "off_hours_calls": len(scores) - len(in_hours),
            "answer_rate": _share([c.outcome == "answered" for c in in_hours]),
            "median_rings": _median(m.get("rings") for m in answered),
            "median_ring_s": _median(m.get("ring_s") for m in answered),
            "median_menu_s": _median(m.get("menu_s") for m in answered),
            "median_hold_s": _median(m.get("hold_s") for m in answered),
        }

    if channel == "web":
        reachable = [m for m in measurements if m.get("reachable") and m.get("outcome") == "ok"]
        return {
            "checks": len(scores),
            "site_reachable_rate": _share([m in reachable for m in measurements]),
            "statement_rate": _share(
                [
                    m.get("accessibility") is not None
                    or m.get("accessibility_statement_url") is not None
                    for m in reachable
                ]
            ),
            "contact_form_rate": _share([bool(m.get("contact_form")) for m in reachable]),
            "median_load_s": _median(m.get("load_s") for m in reachable),
        }

    def elapsed(key: str) -> list[float | None]:
        return [(m.get(key) or {}).get("elapsed_s") for m in measurements]

    def working(key: str) -> list[float | None]:
        return [(m.get(key) or {}).get("working_days") for m in measurements]

    return {
        "sent": len(scores),
        "bounce_rate": _share([score.contact.outcome == "bounced" for score in scores]),
        "reply_rate": _share([bool(m.get("first_human_reply")) for m in measurements]),
        "ack_rate": _share([bool(m.get("first_acknowledgement")) for m in measurements]),
        "median_ack_days": _median(
            None if v is None else v / 86_400.0 for v in elapsed("first_acknowledgement")
        ),
        "median_reply_working_days": _median(working("first_human_reply")),
        "median_reply_hours": _median(
            None if v is None else v / 3_600.0 for v in elapsed("first_human_reply")
        ),
    }


def aggregate(
    grid: CriteriaGrid,
    structure_id: int,
    channel: str,
    scores: Sequence[ContactScore],
    *,
    probes: int,
    excluded: int,
    keep_contacts: bool = True,
) -> ChannelScore:
    """A structure's channel score from its judged contacts (attempts that reached it).

    Without ``keep_contacts`` only the totals and each contact's failed criteria are kept: a
    whole wave's verdicts and evidence need not stay in memory at once.
    """
    criteria = grid.for_channel(channel)
    weight = {criterion.id: criterion.weight for criterion in criteria}
    index_of = {criterion.id: criterion.index for criterion in criteria}
    counts: dict[str, dict[str, int]] = {c.id: {} for c in criteria}
    passed_w = dict.fromkeys(INDICES, 0.0)
    decided_w = dict.fromkeys(INDICES, 0.0)
    pending = 0
    for score in scores:
        waiting = False
        for result in score.results:
            tally = counts[result.criterion_id]
            tally[result.verdict] = tally.get(result.verdict, 0) + 1
            if result.verdict in ("passed", "failed"):
                index = index_of[result.criterion_id]
                decided_w[index] += weight[result.criterion_id]
                if result.verdict == "passed":
                    passed_w[index] += weight[result.criterion_id]
            waiting = waiting or result.verdict == "pending"
        pending += waiting
    return ChannelScore(
        structure_id=structure_id,
        channel=channel,
        score=_percent(sum(passed_w.values()), sum(decided_w.values())),
        accessibility=_percent(passed_w["accessibility"], decided_w["accessibility"]),
        responsiveness=_percent(passed_w["responsiveness"], decided_w["responsiveness"]),
        quality=_percent(passed_w["quality"], decided_w["quality"]),
        contacts=len(scores),
        probes=probes,
        excluded=excluded,
        pending=pending,
        criteria={key: CriterionTally(**value) for key, value in counts.items()},
        figures=channel_figures(channel, scores),
        failures=tuple(
            ContactFailures(
                score.contact.probe_id,
                score.contact.attempt_number,
                tuple(r.criterion_id for r in score.results if r.verdict == "failed"),
            )
            for score in scores
        ),
        contact_scores=tuple(scores) if keep_contacts else (),
    )
