"""The timeline strip: every segment drawn in its kind's colour, rings numbered in order."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from prober.results.timeline_strip import COLOURS, StripSegment, segments_from, timeline_strip_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_the_strip_draws_each_segment_and_numbers_the_rings() -> None:
    segments = segments_from(
        [
            {"kind": "ringback", "start_s": 0.0, "end_s": 1.5},
            {"kind": "silence", "start_s": 1.5, "end_s": 5.0},
            {"kind": "ringback", "start_s": 5.0, "end_s": 6.0},
            {"kind": "speech", "start_s": 6.0, "end_s": 9.0},
            {"kind": "music", "start_s": 9.0, "end_s": 40.0},
            {"kind": "speech", "start_s": 40.0, "end_s": 40.0},  # empty: dropped
        ]
    )
    assert len(segments) == 5
    svg = timeline_strip_svg(segments, answered_at_s=6.0, transfer_at_s=9.0, strip_id="s1")
    root = ElementTree.fromstring(svg)  # noqa: S314 (our own output)
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert [bar.get("fill") for bar in bars] == [
        COLOURS[kind] for kind in ("ringback", "silence", "ringback", "speech", "music")
    ]
    widths = [float(bar.get("width", 0)) for bar in bars]
    assert widths[4] > 10 * widths[0]  # 31 s of music against 1.5 s of ringing
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts[:2] == ["1", "2"]  # the rings, in order
    assert "décroché" in texts and "transfert" in texts
    assert {"sonnerie", "parole", "musique", "silence"} <= set(texts)


def test_text_in_the_strip_is_escaped() -> None:
    svg = timeline_strip_svg([StripSegment("<script>", 0.0, 1.0)], strip_id='"x')
    assert "<script>" not in svg
    ElementTree.fromstring(svg)  # noqa: S314 (still well-formed)
