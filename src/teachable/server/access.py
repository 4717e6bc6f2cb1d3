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

Published models (``/tm/...``, see :mod:`.routes.publishing`) are the one exception to the origin
rule: reading them (GET, HEAD, OPTIONS) is open to every origin and needs no token, because their
address holds a secret made for the purpose and they answer nothing but a model's three files.

**A classroom.** Students are on the network without the teacher's token. What holds no project
data is theirs to read without it (``CLASSROOM``): the sketch editor and its page assets, the
packaged libraries, the ``--https`` certificate authority, where the sketch frame listens, and
turning a sketch they wrote into a zip. Everything that lists, reads or changes a project keeps
needing the token. A page a student cannot open answers with a page that says what to do, not JSON.
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
# Open to everyone who can reach the server, token or not (a classroom's students): (method set, path
# or prefix ending in "/"). None of it lists, reads or changes a project.
CLASSROOM = (
    (SAFE_METHODS, "/sketch/"), (SAFE_METHODS, "/sketch"), (SAFE_METHODS, "/vendor/"), (SAFE_METHODS, "/static/"),
    (SAFE_METHODS, "/tls/authority.pem"), (SAFE_METHODS, "/api/sketch/frame"), ({"POST"}, "/api/sketch.zip"),
)


def open_to_classroom(method: str, path: str) -> bool:
    """May anyone who reaches the server make this request without the token?"""
    return any(method in methods and (path == where or (where.endswith("/") and path.startswith(where)))
               for methods, where in CLASSROOM)


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
        if self.token is None or public or (
                scope["type"] == "http" and open_to_classroom(scope.get("method", "GET"), scope.get("path", ""))):
            return await self.app(scope, receive, send)
        given, from_query = self._given_token(scope)
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            return await self._deny(scope, receive, send, 401, "A valid access token is needed: open the link `teachable serve` "
                                    "printed. Students: the sketch editor is at /sketch/ (your teacher's link names a model).")
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
        if scope["type"] == "http" and _wants_page(scope):  # a person at a browser: a page that says what to do
            body = refusal_page(status, message).encode()
            headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                       (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'")]
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


def _wants_page(scope) -> bool:
    """A browser navigating (not the app's own fetches, which ask for JSON)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    return (scope.get("method") in ("GET", "HEAD") and not scope.get("path", "").startswith("/api/")
            and "text/html" in headers.get("accept", ""))


def refusal_page(status: int, message: str) -> str:
    """The page a refused browser gets: the reason, and what to do instead."""
    import html

    if status == 401:
        advice = ("<p><strong>Teacher:</strong> open the link <code>teachable serve</code> printed (it holds the access "
                  "token), once; this browser then remembers it.</p>"
                  "<p><strong>Student:</strong> you need no token for the <a href=\"/sketch/\">sketch editor</a>: open the "
                  "sketch link your teacher gave you (it names the model to use). Projects stay on the teacher's "
                  "computer.</p>")
    else:
        advice = "<p>Open Teachable from its own address, the one <code>teachable serve</code> printed.</p>"
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Teachable</title>"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;color:#1d2433}"
            "code{background:#eef1f6;padding:0 .25em;border-radius:3px}</style></head><body>"
            f"<h1>Teachable</h1><p>{html.escape(message)}</p>{advice}</body></html>")
