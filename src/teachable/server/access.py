"""Who may use the server.

On 127.0.0.1 (the default) only this computer can connect, so no login is needed; the Host
header must then name this computer, which stops other web sites from reaching the server
through DNS rebinding. On any other address a token is required on every HTTP request and
WebSocket: as ``Authorization: Bearer TOKEN``, as ``?token=TOKEN`` (the printed link; the
server then sets a cookie so the page keeps working after the first visit), or that cookie.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

COOKIE = "teachable_token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class AccessMiddleware:
    """Pure ASGI, so it guards WebSockets as well as HTTP."""

    def __init__(self, app, token: str | None = None, allowed_hosts: set[str] | None = None) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = allowed_hosts

    def _given_token(self, scope) -> tuple[str | None, bool]:
        """(token, came from the query string)."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token"):
            return query["token"][0], True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            return None, False
        return (cookie[COOKIE].value if COOKIE in cookie else None), False

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if self.allowed_hosts is not None:
            host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
            if _host_name(host) not in self.allowed_hosts:
                return await self._deny(scope, receive, send, 400, "This server only answers requests addressed to this computer (localhost).")
        if self.token is None:
            return await self.app(scope, receive, send)
        given, from_query = self._given_token(scope)
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            return await self._deny(scope, receive, send, 401, "A valid access token is needed: open the link `teachable serve` printed.")
        if from_query and scope["type"] == "http":
            send = self._with_cookie(send)
        return await self.app(scope, receive, send)

    def _with_cookie(self, send):
        async def wrapped(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()))
                message = {**message, "headers": headers}
            await send(message)

        return wrapped

    async def _deny(self, scope, receive, send, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await receive()  # the websocket.connect event
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 4000 + status})
