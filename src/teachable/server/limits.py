"""How much a client may send the server, in one place (reported by ``GET /api/health``)."""

from __future__ import annotations

import os

from ..embed.preprocess import MAX_FILE_BYTES

MAX_REQUEST_BYTES = 64 * 1024 * 1024
MAX_PROJECT_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
MAX_FILES_PER_UPLOAD = 200
MAX_PREDICT_BATCH = 64
MAX_WS_FRAME_BYTES = 2 * 1024 * 1024
# Live streams (WebSockets) open at once: a classroom of 30 with a page or two each fits; past it a
# new stream is told to try again later. A stream with no whole message for LIVE_IDLE_S (idle, or
# holding a message it never finishes) is closed; the page reconnects when it has frames again.
MAX_LIVE_STREAMS = 96
LIVE_IDLE_S = float(os.environ.get("TEACHABLE_LIVE_IDLE_S", 60))  # (shorter in tests)
# Ids are SQLite integers; anything outside this range names nothing (a 404/422, not a crash).
MAX_ID = 2**62
LIMITS = {
    "max_request_bytes": MAX_REQUEST_BYTES,
    "max_project_upload_bytes": MAX_PROJECT_UPLOAD_BYTES,
    "max_file_bytes": MAX_FILE_BYTES,
    "max_files_per_upload": MAX_FILES_PER_UPLOAD,
    "max_predict_batch": MAX_PREDICT_BATCH,
    "max_ws_frame_bytes": MAX_WS_FRAME_BYTES,
    "max_live_streams": MAX_LIVE_STREAMS,
    "live_idle_seconds": LIVE_IDLE_S,
}


def body_limit(path: str) -> int:
    """The largest request body accepted at ``path``."""
    return MAX_PROJECT_UPLOAD_BYTES if path in ("/api/projects/open", "/api/projects/import-tm") else MAX_REQUEST_BYTES
