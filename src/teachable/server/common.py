"""What every Teachable HTTP app shares: JSON errors, request size limits, security headers."""

from __future__ import annotations

import asyncio
import json
import time
import traceback
from typing import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import TeachableError

CSP = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
       "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
# The API docs page (Swagger UI starts itself with an inline script): at least no framing, so no
# other site can put "Try it out" under a visitor's clicks.
DOCS_CSP = "frame-ancestors 'none'"
# A request body must keep arriving: a client that sends nothing for BODY_IDLE_S, or takes longer
# than BODY_TOTAL_S for the whole body (a 2 GB project file at 4 MB/s), is answered 408 and cut off.
BODY_IDLE_S = 30.0
BODY_TOTAL_S = 600.0


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class BodyTooLarge(HTTPException):
    """A request body went past its limit while it arrived (whatever its framing)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request is too large; the limit is {limit:,} bytes.")


async def send_json(send, status: int, message: str) -> None:
    """A complete JSON error response, for ASGI code below FastAPI's handlers."""
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyTooSlow(HTTPException):
    """A request body stopped arriving, or trickled in for too long."""

    def __init__(self) -> None:
        super().__init__(408, "The request body arrived too slowly; the connection was closed.")


class BodyLimit:
    """Refuse bodies over ``limit_for(path)`` bytes with 413, and bodies that do not keep
    arriving with 408.

    A declared Content-Length over the limit is refused before anything is read; otherwise the
    bytes are counted as they arrive, so a chunked body (no Content-Length) is stopped at the
    limit too instead of being buffered or spooled whole. Each part of a body must come within
    BODY_IDLE_S of the one before, and all of it within BODY_TOTAL_S (headers have their own
    timeout in run.py), so slow clients cannot hold the server's connections for ever.
    """

    def __init__(self, app, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["path"])
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return await send_json(send, 400, "Invalid Content-Length header.")
            if declared > limit:
                return await send_json(send, 413, f"The request is too large ({declared:,} bytes); the limit is {limit:,} bytes.")
        received = 0
        started = False
        deadline = time.monotonic() + BODY_TOTAL_S
        body_done = timed_out = False

        async def counted_receive():
            nonlocal received, body_done, timed_out
            if body_done:  # after the body, receive() waits for a disconnect: no time limit
                return await receive()
            wait = min(BODY_IDLE_S, deadline - time.monotonic())
            try:
                message = await asyncio.wait_for(receive(), timeout=max(wait, 0.001))
            except asyncio.TimeoutError:
                timed_out = True
                raise BodyTooSlow() from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if timed_out:  # the rest of the body may never come: end the connection
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except (BodyTooLarge, BodyTooSlow) as exc:  # raised where no handler turned it into a response
            if not started:
                await send_json(watched_send, exc.status_code, exc.detail)


def install_common(app: FastAPI, limit_for: Callable[[str], int]) -> None:
    """Errors as ``{"error": sentence}``; bodies over ``limit_for(path)`` bytes refused with 413."""

    @app.exception_handler(TeachableError)
    async def teachable_error(request: Request, exc: TeachableError):
        return error(exc.http_status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        parts = []
        for item in exc.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
        return error(422, "Invalid request: " + "; ".join(parts))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception):
        traceback.print_exception(exc)  # for the person running the server; the client gets a sentence
        return error(500, "Teachable met an unexpected problem with this request; the server log has the details.")

    app.add_middleware(BodyLimit, limit_for=limit_for)  # inside the headers below, so its 413s get them

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        # No other site may embed what this server answers (pictures, sounds, JSON).
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        docs = request.url.path.startswith("/docs")
        response.headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else CSP)
        return response
