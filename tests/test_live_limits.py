"""Live WebSockets within bounds (issue 36): pose streams share a few trackers, streams are capped,
and a socket that sends nothing whole (idle, or a message it never finishes) is closed."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import struct

import httpx
import pytest
import websockets

from people import person
from servers import Server


def _jpeg(image) -> bytes:
    buffer = io.BytesIO()
    image.resize((320, 320)).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


@pytest.fixture
def server(tmp_path):
    with_env = dict(os.environ, TEACHABLE_LIVE_IDLE_S="3")
    started = Server(tmp_path / "ws")
    old = os.environ.copy()
    os.environ.update(with_env)
    try:
        started.start()
    finally:
        os.environ.clear()
        os.environ.update(old)
    yield started
    started.stop()


def _ws(server: Server, pid: str, mode: str = "predict") -> str:
    return f"ws://127.0.0.1:{server.port}/api/projects/{pid}/live?mode={mode}"


def test_twelve_pose_streams_share_four_trackers(server):
    """Each video-mode tracker costs ~100 MB: 40 streams took a server to 4.4 GB. Twelve streams at
    once each follow the person, and the server grows by the four trackers it keeps, not twelve."""
    pid = httpx.post(server.base + "/api/projects", json={"name": "poses", "kind": "pose"}, timeout=60).json()["id"]
    frame = _jpeg(person("astronaut"))

    async def stream(url: str) -> list[dict]:
        async with websockets.connect(url, max_size=None, open_timeout=60) as ws:
            replies = []
            for _ in range(3):
                await ws.send(frame)
                replies.append(json.loads(await asyncio.wait_for(ws.recv(), 120)))
            return replies

    async def one_then_many():
        await stream(_ws(server, pid, "landmarks"))  # the shared detector and one tracker, loaded
        before = server.peak_rss()
        every = await asyncio.gather(*(stream(_ws(server, pid, "landmarks")) for _ in range(12)))
        return before, every

    before, every = asyncio.run(one_then_many())
    assert all(len(r["landmarks"]["points"]) == 33 for replies in every for r in replies)
    grown = server.peak_rss() - before
    assert grown < 700 * 2**20, f"{grown / 2**20:.0f} MB"  # 1,414 MB with a tracker a stream


def test_streams_past_the_cap_are_told_to_try_later(server):
    from teachable.server.limits import MAX_LIVE_STREAMS

    pid = httpx.post(server.base + "/api/projects", json={"name": "many"}, timeout=60).json()["id"]

    async def flood():
        held = [await websockets.connect(_ws(server, pid)) for _ in range(MAX_LIVE_STREAMS)]
        try:
            async with websockets.connect(_ws(server, pid)) as extra:
                reply = json.loads(await asyncio.wait_for(extra.recv(), 30))
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(extra.recv(), 30)
                return reply, closed.value.rcvd.code
        finally:
            for ws in held:
                await ws.close()

    reply, code = asyncio.run(flood())
    assert "try again" in reply["error"] and code == 1013


def test_idle_sockets_and_unfinished_messages_are_closed(server):
    pid = httpx.post(server.base + "/api/projects", json={"name": "idle"}, timeout=60).json()["id"]

    async def idle():
        async with websockets.connect(_ws(server, pid)) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 30)
            return closed.value.rcvd.code

    assert asyncio.run(idle()) == 4408
    # A raw client: the upgrade, then a binary frame that says 3 MB and sends 1 MB of it.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
        raw.sendall((f"GET /api/projects/{pid}/live HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        assert b"101" in raw.recv(4096).split(b"\r\n")[0]
        raw.sendall(bytes([0x82, 0xFF]) + struct.pack(">Q", 3 * 2**20) + bytes(4) + bytes(2**20))
        raw.settimeout(30)
        ended = b""
        try:  # until the server's close frame (it would then wait for ours before hanging up)
            while struct.pack(">H", 4408) not in ended and (chunk := raw.recv(65536)):
                ended += chunk
        except (ConnectionResetError, TimeoutError, socket.timeout) as exc:
            pytest.fail(f"the server held the unfinished message: {exc}")
    assert struct.pack(">H", 4408) in ended  # a close frame with the idle code
