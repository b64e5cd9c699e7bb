"""The email channel: probe emails sent, replies read back, parsed and classified.

Replies are read as raw bytes, turned into a ``ParsedMessage`` that never fails on bad input
(``message``), and classed as a human reply, an automatic acknowledgement, an out-of-office
reply, a bounce or another automatic message (``classify``). Like every channel it knows
nothing of storage.
"""
