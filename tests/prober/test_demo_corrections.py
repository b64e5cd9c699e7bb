"""What the demo expects of ``prober corrections`` and of its site checks, from the sandbox's
truth logs (calls, mail, sites), and the hours its simulated sites publish."""

from __future__ import annotations

from typing import Any

from prober.demo.corrections import expected_findings, site_findings
from prober.demo.sites import check_differences, french_hours
from prober.results.corrections import hours_in_directory, hours_in_text


def call(to: str, status: str, sip: int) -> dict[str, Any]:
    return {"to": to, "status": status, "sip_response_code": sip}


def test_the_truth_logs_name_dead_and_never_answered_numbers_and_bounces() -> None:
    calls = [
        call("+331", "failed", 404),
        call("+331", "failed", 404),
        call("+332", "no-answer", 487),
        call("+332", "no-answer", 487),
        call("+333", "no-answer", 487),  # once only: not "never answered"
        call("+334", "no-answer", 487),
        call("+334", "completed", 200),
        call("+335", "failed", 503),  # the carrier's trouble, not a dead number
    ]
    mail = [{"kind": "bounce", "mailbox": "a@x.fr"}, {"kind": "reply", "mailbox": "b@x.fr"}]

    assert expected_findings(calls, mail) == {
        ("+331", "number_not_in_service"),
        ("+332", "number_never_answered"),
        ("a@x.fr", "address_bounces"),
    }


def test_sites_call_for_corrections_and_a_dead_number_is_reported_once() -> None:
    def site(behaviour: str, phone: str = "+339") -> dict[str, Any]:
        url = f"https://{behaviour}.sites.test/"
        return {"behaviour": behaviour, "url": url, "directory_phone": phone,
                "directory_hours": "Mo-Fr 09:00-17:00"}  # fmt: skip

    truths = [
        site("ok"), site("down"), site("moved"), site("phone_differs", "+331"),
        site("phone_differs", "+332"), site("hours_differ"), site("expired_certificate"),
    ]  # fmt: skip

    assert site_findings(truths, dead_numbers={"+331"}) == {
        ("https://down.sites.test/", "website_down"),
        ("https://moved.sites.test/", "website_moved"),
        ("+332", "phone_differs_from_site"),
        ("Mo-Fr 09:00-17:00", "opening_hours_differ_from_site"),
    }


def test_a_site_publishes_the_directory_s_hours_in_french_with_the_same_times() -> None:
    osm = "Mo-Fr 08:30-17:00; Th 08:30-19:30; Sa 09:00-12:30"
    lines = french_hours(osm)

    assert lines == (
        ("Lundi au mercredi", "8h30 – 17h00"),
        ("Jeudi", "8h30 – 19h30"),
        ("Vendredi", "8h30 – 17h00"),
        ("Samedi", "9h00 – 12h30"),
    )
    text = "; ".join(f"{days} : {times}" for days, times in lines)
    assert hours_in_text(text) == hours_in_directory(osm)
    assert french_hours(None) == ()


def test_a_stored_check_differs_from_the_truth_field_by_field() -> None:
    truth = {
        "expected": {"url": "u", "status": 200, "phones": ["+331"], "load_s": None},
        "outcome": "ok",
        "min_load_s": 0.5,
    }
    same = {"url": "u", "status": 200, "phones": ["+331"], "load_s": 0.6, "outcome": "ok"}

    assert check_differences(same, truth) == []
    assert check_differences({**same, "phones": []}, truth) == ["phones [] (vérité ['+331'])"]
    assert check_differences({**same, "load_s": 0.2}, truth) == ["load_s 0.2 (vérité ≥ 0.5)"]
    assert check_differences({**same, "outcome": "timeout"}, truth) == ["issue timeout (vérité ok)"]
