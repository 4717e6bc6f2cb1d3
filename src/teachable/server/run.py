"""Running an app under uvicorn with the limits a server open to a network needs."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
import socket
import time
from collections import Counter

from uvicorn.protocols.http.h11_impl import H11Protocol

from .access import is_loopback

# A client gets this long to send a request's headers (a slow client could otherwise hold a
# connection open for ever, a byte at a time, and enough of them exhaust the server).
HEADER_TIMEOUT_S = 15.0
# WebSocket messages larger than this end the connection (the live preview's frames are smaller).
WS_MAX_BYTES = 4 * 1024 * 1024
# Open connections at once: from one address on the network (a browser opens six or so; a whole
# classroom's students each have their own address), and in all. Past either, a new connection is
# closed at once, so one client on the network cannot take every socket (and file descriptor) of
# the server from the students and the teacher. Loopback clients (this computer's own browser and
# programs) count only towards the total.
MAX_PER_CLIENT = 64
MAX_CONNECTIONS = 1000
REFUSAL_LOG_EVERY_S = 60.0
SHUTDOWN_GRACE_S = 5
CLIENT_GONE = "teachable.client_gone"  # in a request's scope: () -> bool, whether its client left

log = logging.getLogger("teachable.server")


class ConnectionLimits:
    """Counts of open connections by client address, shared by every server of this process."""

    def __init__(self) -> None:
        self.by_client: Counter[str] = Counter()
        self.total = 0
        self._logged: dict[str, float] = {}

    def admit(self, client: str) -> bool:
        local = is_loopback(client)
        if self.total >= MAX_CONNECTIONS or (not local and self.by_client[client] >= MAX_PER_CLIENT):
            self._log_refusal(client)
            return False
        self.by_client[client] += 1
        self.total += 1
        return True

    def release(self, client: str) -> None:
        self.by_client[client] -= 1
        if self.by_client[client] <= 0:
            del self.by_client[client]
        self.total -= 1

    def _log_refusal(self, client: str) -> None:
        """One line a client a minute, not one a connection (2,000 refused connections once logged
        207 MB of tracebacks)."""
        now = time.monotonic()
        if now - self._logged.get(client, -REFUSAL_LOG_EVERY_S) >= REFUSAL_LOG_EVERY_S:
            self._logged[client] = now
            what = "connections in all" if self.total >= MAX_CONNECTIONS else f"connections from {client}"
            log.warning("refusing new connections: %s are at the limit (%d from one address, %d in all)",
                        what, MAX_PER_CLIENT, MAX_CONNECTIONS)


LIMITS = ConnectionLimits()


def raise_open_file_limit() -> None:
    """The soft limit on open files up to the hard one (often 1,024 of 1,048,576), so the connection
    limits above, not the system's, are what a flood meets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            pass


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing connections whose request headers do not arrive in
    time. uvicorn itself only times out idle keep-alive connections."""

    _deadline: asyncio.TimerHandle | None = None
    _waiting_for = None
    _counted: str | None = None  # the client address this connection counts against

    def connection_made(self, transport) -> None:  # type: ignore[override]
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if peer else "unknown"
        if not LIMITS.admit(client):
            transport.abort()
            return
        self._counted = client
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._waiting_for = self.cycle  # a new cycle appears once a request's headers are in
        self._deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        if self.cycle is self._waiting_for and not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not self._waiting_for:
            self._disarm()
            if self.cycle is not None:  # the request's task starts later, with this scope
                self.cycle.scope[CLIENT_GONE] = self._client_gone

    def _client_gone(self) -> bool:
        """Whether the client has closed its end (or reset it), asked of the socket without reading:
        while a long request runs uvicorn stops reading the connection, so it cannot tell."""
        sock = self.transport.get_extra_info("socket")
        if self.transport.is_closing() or sock is None:
            return True
        try:
            with socket.fromfd(sock.fileno(), sock.family, sock.type) as probe:  # a duplicate, closed after
                return probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def handle_websocket_upgrade(self, event) -> None:
        self._disarm()  # the connection now belongs to the WebSocket protocol
        super().handle_websocket_upgrade(event)
        # ... which is told when it closes, not this one: it releases the connection's count then.
        client, self._counted = self._counted, None
        websocket = self.transport.get_protocol()
        closed = websocket.connection_lost

        def connection_lost(exc) -> None:
            LIMITS.release(client)
            closed(exc)

        websocket.connection_lost = connection_lost

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets the same time

    def connection_lost(self, exc) -> None:
        if self._counted is None:
            return  # refused in connection_made: uvicorn never saw it
        LIMITS.release(self._counted)
        self._counted = None
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._counted is not None:
            super().data_received(data)

    def eof_received(self) -> None:
        if self._counted is not None:
            super().eof_received()


def addresses_to_open(host: str) -> list[str]:
    """Host names a browser can open: 'localhost' for loopback, this computer's addresses on
    its networks when listening on all of them (0.0.0.0 or ::), else the address given."""
    if is_loopback(host):
        return ["localhost"]
    try:
        wildcard = ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return [host]
    if not wildcard:
        return [f"[{host}]" if ":" in host and not host.startswith("[") else host]
    name = socket.gethostname()
    try:
        found = socket.gethostbyname_ex(name)[2]
    except OSError:
        found = []
    routed = _routed_address()  # what the host name resolves to is often loopback only (Debian: 127.0.1.1)
    usable = list(dict.fromkeys(a for a in ([routed] if routed else []) + found if not ipaddress.ip_address(a).is_loopback))
    return usable + [name] if usable else [name]


def _routed_address() -> str | None:
    """This computer's address on the network its default route leaves by (a UDP socket is
    "connected" to a private address: no packet is sent), or None without such a route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))
            return probe.getsockname()[0]
        except OSError:
            return None


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free one), made before the apps so each knows the other's port."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def sketch_frame_socket(host: str, port: int) -> socket.socket:
    """The sketch frame's port: the one after the app's when free (easy to tell students), else any."""
    try:
        return bind(host, port + 1 if 0 < port < 65535 else 0)
    except OSError:
        return bind(host, 0)


def run(app, host: str, port: int, tls: tuple[str, str] | None = None) -> None:
    """Serve ``app`` and, beside it on a second port, the sketch frame (sketch_frame.py); with
    ``tls`` (certificate file, key file) both over HTTPS."""
    import contextlib
    import signal
    import threading

    import uvicorn
    from uvicorn.server import HANDLED_SIGNALS

    from .sketch_frame import create_frame_app

    raise_open_file_limit()
    main_socket = bind(host, port)
    ssl = {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]} if tls else {}
    # On Ctrl+C or SIGTERM, requests still running after a few seconds are cancelled (a long import
    # then stops at its next check) instead of holding the server up.
    common = {"log_level": "warning", "http": HeaderTimeoutProtocol, "timeout_graceful_shutdown": SHUTDOWN_GRACE_S, **ssl}
    class MainServer(uvicorn.Server):
        """uvicorn's server, but a Ctrl+C or SIGTERM is raised again only once both servers are down
        (uvicorn raises it as its own server ends, which cancelled the frame's server mid-shutdown
        and printed a traceback on every Ctrl+C)."""

        def __init__(self, config) -> None:
            super().__init__(config)
            self.captured: list[int] = []

        @contextlib.contextmanager
        def capture_signals(self):
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

        def handle_exit(self, sig, frame) -> None:
            self.captured.append(sig)
            super().handle_exit(sig, frame)

    main = MainServer(uvicorn.Config(app, ws_max_size=WS_MAX_BYTES, **common))
    frame_socket = sketch_frame_socket(host, main_socket.getsockname()[1])
    app.state.sketch_frame_port = frame_socket.getsockname()[1]

    class FrameServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # the app's server takes Ctrl+C, then stops this one
            yield

    frame = FrameServer(uvicorn.Config(create_frame_app(main_socket.getsockname()[1]), **common))

    async def both() -> None:
        frame_task = asyncio.create_task(frame.serve(sockets=[frame_socket]))
        try:
            await main.serve(sockets=[main_socket])
        finally:
            frame.should_exit = True
            await frame_task

    asyncio.run(both())
    for sig in reversed(main.captured):  # what the user asked for, now that everything is closed
        signal.raise_signal(sig)
