"""How much a client may send the server, in one place (reported by ``GET /api/health``)."""

from __future__ import annotations

from ..embed.preprocess import MAX_FILE_BYTES

MAX_REQUEST_BYTES = 64 * 1024 * 1024
MAX_PROJECT_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
MAX_FILES_PER_UPLOAD = 200
MAX_PREDICT_BATCH = 64
MAX_WS_FRAME_BYTES = 2 * 1024 * 1024
# Ids are SQLite integers; anything outside this range names nothing (a 404/422, not a crash).
MAX_ID = 2**62
LIMITS = {
    "max_request_bytes": MAX_REQUEST_BYTES,
    "max_project_upload_bytes": MAX_PROJECT_UPLOAD_BYTES,
    "max_file_bytes": MAX_FILE_BYTES,
    "max_files_per_upload": MAX_FILES_PER_UPLOAD,
    "max_predict_batch": MAX_PREDICT_BATCH,
    "max_ws_frame_bytes": MAX_WS_FRAME_BYTES,
}


def body_limit(path: str) -> int:
    """The largest request body accepted at ``path``."""
    return MAX_PROJECT_UPLOAD_BYTES if path in ("/api/projects/open", "/api/projects/import-tm") else MAX_REQUEST_BYTES
