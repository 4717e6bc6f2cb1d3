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


# What native libraries write straight to file descriptor 2 that says nothing to a user: MediaPipe's
# and TensorFlow Lite's start-up and per-graph notices (absl log lines such as "W0000 00:00:... file.cc:186]
# Using NORM_RECT without IMAGE_DIMENSIONS ...", "INFO: Created TensorFlow Lite XNNPACK delegate"), and Ray's
# core worker notices ("[2026-12-07 07:34:17,649 E 8607 8607] core_worker.cc:2465: Actor ... has constructor
# arguments in the object store"): they stay in Ray's log folder.
NATIVE_CHATTER = re.compile(
    r"^(?:[WI]\d{4} [\d:.]+ +\d+ \w+\.cc:\d+\] |INFO: Created TensorFlow Lite |WARNING: All log messages before "
    r"absl::InitializeLog\(\) is called|AttributeError: 'MessageFactory' object has no attribute 'GetPrototype'|"
    r"\[\d{4}-\d\d-\d\d [\d:,]+ [IWE] \d+ \d+\] \w+\.cc:\d+: )")


def quiet_native_chatter() -> None:
    """From now on, lines written to file descriptor 2 that match NATIVE_CHATTER are dropped; every
    other line (Teachable's messages, tracebacks, progress bars) passes unchanged. Process-wide and
    thread-safe (a pipe and one reader thread); everything is written out before the process exits.
    For the command line: a library never changes its host's file descriptors."""
    import atexit
    import os
    import sys
    import threading

    try:
        original = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:
        return
    sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        pending = b""
        with os.fdopen(read_end, "rb", buffering=0) as source:
            while True:
                chunk = source.read(65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                kept = [line + b"\n" for line in lines if not NATIVE_CHATTER.match(line.decode("utf-8", "replace"))]
                if b"\r" in pending:  # a progress bar redrawing its line: pass it on at once
                    kept.append(pending)
                    pending = b""
                if kept:
                    os.write(original, b"".join(kept))
        if pending:
            os.write(original, pending)

    reader = threading.Thread(target=pump, name="teachable-stderr-filter", daemon=True)
    reader.start()

    @atexit.register
    def drain() -> None:
        try:
            sys.stderr.flush()
        except Exception:
            pass
        os.dup2(original, 2)  # closes the pipe's last write end: the reader sees its end and finishes
        reader.join(timeout=5)
