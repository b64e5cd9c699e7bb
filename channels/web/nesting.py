"""Deeply nested markup flattened before parsing: an HTML bomb must cost linear time.

lexbor, like every HTML5 tree builder, checks the stack of open elements at each tag, so a page
of 200,000 nested ``<div>`` takes minutes. Tags that would open deeper than ``MAX_DEPTH`` (and
their closing tags) are removed here; their text stays. Real pages nest a few dozen deep.
"""

from __future__ import annotations

import re
from collections import Counter

MAX_DEPTH = 512
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]{0,30})[^<>]{0,2000}?(/?)>")
# Elements without content, and those a parser closes by itself: they never nest for long.
_NOT_NESTING = frozenset(
    "area base br col embed hr img input link meta param source track wbr "
    "p li dt dd tr td th thead tbody tfoot option optgroup colgroup rp rt html head body".split()
)


# Nesting deeper than MAX_DEPTH needs a long run of opening tags with no closing tag between:
# looking for one is cheap, and lets ordinary pages skip the tag-by-tag walk.
_LONG_RUN = re.compile(r"(?:<[A-Za-z][^<>]{0,2000}>[^<]{0,2000}){" + str(MAX_DEPTH // 2) + "}")


def flattened(html: str, max_depth: int = MAX_DEPTH) -> tuple[str, bool]:
    """``html`` without the tags nested deeper than ``max_depth``; True when some were removed."""
    if max_depth >= MAX_DEPTH and _LONG_RUN.search(html) is None:
        return html, False
    open_tags: list[str] = []
    dropped: Counter[str] = Counter()
    pieces: list[str] = []
    kept_from = 0
    for tag in _TAG.finditer(html):
        closing, name, self_closing = tag.group(1), tag.group(2).lower(), tag.group(3)
        if name in _NOT_NESTING or self_closing:
            continue
        drop = False
        if not closing:
            if len(open_tags) >= max_depth:
                dropped[name] += 1
                drop = True
            else:
                open_tags.append(name)
        elif dropped[name]:
            dropped[name] -= 1
            drop = True
        elif name in open_tags:
            while open_tags.pop() != name:
                pass
        if drop:
            pieces.append(html[kept_from : tag.start()])
            kept_from = tag.end()
    if not pieces:
        return html, False
    pieces.append(html[kept_from:])
    return "".join(pieces), True
