"""The sketch frame's own little server: the second port `teachable serve` listens on.

A sketch's code must not run in the app's origin (it could read the page and call the API as
the user), and Chromium gives a sandboxed opaque origin no camera. So the frame that runs it is
served from another port of the same host — another origin to the browser — by this app, which
answers nothing but the frame and the packaged libraries (routes/sketches.py).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..errors import TeachableError
from .routes.sketches import frame_router


def create_frame_app(app_port: int | None) -> FastAPI:
    """The frame app for the main app listening on ``app_port`` (only its pages may frame it)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.app_port = app_port
    app.include_router(frame_router)

    @app.exception_handler(TeachableError)
    async def refused(request: Request, exc: TeachableError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.http_status)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        return response

    return app
