"""Counted nouns in messages ("1 sample", "3 samples"): one helper, so no message says "1 samples"
or "3 sample(s)". The page has the same in JavaScript (static/dom.js: ``plural``)."""

from __future__ import annotations

IRREGULAR = {"was": "were", "has": "have", "is": "are", "it": "they", "this": "these"}


def plural(noun: str) -> str:
    return IRREGULAR.get(noun, noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s"))


def counted(n: int, noun: str, many: str | None = None) -> str:
    """``n`` and the noun, singular for exactly one: counted(1, "sample") -> "1 sample"."""
    return f"{n:,} {noun if n == 1 else (many or plural(noun))}"
