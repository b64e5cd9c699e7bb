"""Scores: from each contact's measurement to verdicts per criterion, then per structure."""
