"""The sketch frame's own little server: the second port `teachable serve` listens on.

A sketch's code must not run in the app's origin (it could read the page and call the API as
the user), and Chromium gives a sandboxed opaque origin no camera. So the frame that runs it is
served from another port of the same host — another origin to the browser — by this app, which
answers nothing but the frame and the packaged libraries (routes/sketches.py).
"""

from __future__ import annotations

from fastapi import FastAPI

from .common import install_common
from .limits import MAX_REQUEST_BYTES
from .routes.sketches import frame_router


def create_frame_app(app_port: int | None) -> FastAPI:
    """The frame app for the main app listening on ``app_port`` (only its pages may frame it).
    Errors and headers are the app's (install_common); the frame's own policy, with its
    ``frame-ancestors``, replaces the default one (and so X-Frame-Options, which browsers ignore
    beside ``frame-ancestors``)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.app_port = app_port
    install_common(app, limit_for=lambda path: MAX_REQUEST_BYTES)
    app.include_router(frame_router)
    return app
