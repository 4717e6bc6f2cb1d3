"""Text from elsewhere, made safe to print on a terminal.

Labels, class names, sample sources and file names come from files and projects made by anyone.
Printed raw, their control characters drive the terminal: ESC sequences can set the window title,
clear the screen, write the clipboard (OSC 52) or hide a link behind harmless text (OSC 8), and
bidirectional overrides can make text read backwards. Every character of that kind is shown as a
visible escape instead (``\\u001b``, ``\\u202e``: the same escape JSON uses, so a JSON line stays
valid JSON and reads back as the original text); line breaks and tabs stay.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL and the C1 controls, and the bidirectional overrides/isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """``text`` as a string whose control characters are visible escapes, never sent as they are."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))
