"""Names people give to projects and classes: checked once, the same way everywhere.

Class names become folder names when a project is exported, so a name can never be a path.
"""

from __future__ import annotations

import unicodedata

from .errors import InvalidNameError

MAX_NAME_LENGTH = 100
# Control and format characters, line and paragraph separators (U+2028, U+2029), lone surrogates:
# none belongs in a name, and each can break a line of a log, a CSV or a JavaScript string.
REFUSED_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs")


def check_name(name: object, what: str = "class") -> str:
    """A usable name: trimmed, 1-100 characters, no path separators or control characters."""
    if not isinstance(name, str):
        raise InvalidNameError(f"A {what} name must be text.")
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise InvalidNameError(f"A {what} name cannot be empty.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(f"A {what} name can be at most {MAX_NAME_LENGTH} characters (this one has {len(name):,}).")
    if "/" in name or "\\" in name:
        raise InvalidNameError(f"A {what} name cannot contain '/' or '\\\\': '{name}'.")
    if any(unicodedata.category(ch) in REFUSED_CATEGORIES for ch in name) or name in (".", ".."):
        raise InvalidNameError(f"A {what} name cannot contain control characters or line breaks, or be '.' or '..'.")
    return name
