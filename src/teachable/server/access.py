"""Who may use the server.

On 127.0.0.1 (the default) only this computer can connect, so no login is needed; the Host
header must then name this computer, which stops other web sites from reaching the server
through DNS rebinding. On any other address a token is required on every HTTP request and
WebSocket: as ``Authorization: Bearer TOKEN``, as ``?token=TOKEN`` (the printed link; the
server then sets a cookie so the page keeps working after the first visit), or that cookie.

Either way, a web page from another site can still make the browser send requests here (a
form, a no-cors ``fetch``, a WebSocket). So every request a browser marks as coming from
another origin is refused unless that origin was allowed with ``--allow-origin``: any request
that could change something (not GET/HEAD/OPTIONS), every WebSocket handshake, and every read
of ``/api/``. Programs such as curl send neither ``Origin`` nor ``Sec-Fetch-Site`` and are not
affected.

Published models (``/tm/...``, see :mod:`.routes.publishing`) are the one exception: reading them
(GET, HEAD, OPTIONS) is open to every origin and needs no token, because their address holds a
secret made for the purpose and they answer nothing but a model's three files.
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


SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PUBLIC_PREFIX = "/tm/"  # published models: their own secret is in the path
SAME_SITE_FETCHES = {"same-origin", "none"}  # "none": typed in the address bar, a bookmark


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class AccessMiddleware:
    """Pure ASGI, so it guards WebSockets as well as HTTP."""

    def __init__(self, app, token: str | None = None, allowed_hosts: set[str] | None = None,
                 allowed_origins: tuple[str, ...] | list[str] = ()) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = allowed_hosts
        self.allowed_origins = {o.rstrip("/").lower() for o in allowed_origins}

    def _cross_site(self, headers: dict[str, str]) -> bool:
        """Did a browser send this from a page of another origin that was not allowed?"""
        origin = headers.get("origin")
        if origin is not None:
            origin = origin.rstrip("/").lower()
            # The page's own origin names this server's host and port (whatever the scheme: a TLS
            # proxy in front may serve https while the server sees http).
            own = origin.split("://", 1)[-1] == headers.get("host", "").lower()
            return not own and origin not in self.allowed_origins
        return headers.get("sec-fetch-site", "none") not in SAME_SITE_FETCHES

    def _guarded(self, scope) -> bool:
        """Which requests must come from this app's own pages (or an allowed origin)."""
        if scope["type"] == "websocket":
            return True
        if scope.get("method", "GET") not in SAFE_METHODS:
            return True
        return scope.get("path", "").startswith("/api/")

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
        public = (scope["type"] == "http" and scope.get("method") in SAFE_METHODS
                  and scope.get("path", "").startswith(PUBLIC_PREFIX))
        if self.allowed_hosts is not None:
            host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
            if _host_name(host) not in self.allowed_hosts:
                return await self._deny(scope, receive, send, 400, "This server only answers requests addressed to this computer (localhost).")
        if not public and self._guarded(scope):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            if self._cross_site(headers):
                return await self._deny(scope, receive, send, 403,
                                        "Requests from other web sites are refused (this app only answers its own pages).")
        if self.token is None or public:
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
