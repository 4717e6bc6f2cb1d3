"""A `.tm` import costs what its pictures are worth, stops when the client leaves, and does not hold
the server up when it shuts down (issue 36)."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import time
import zipfile

import httpx
import numpy as np
import pytest
from PIL import Image

from servers import Server
from teachable import Workspace
from teachable.tm.projects import TeachableMachineProjectError, import_tm

MANIFEST = json.dumps({"type": "image", "version": "2.4.0", "appdata": {}})


def _png(side: int, shade: int) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("1", (side, side), 0)
    image.putpixel((shade % side, shade // side), 1)  # each picture its own
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _tm(path, pictures: dict[str, list[bytes]]):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("manifest.json", MANIFEST)
        for name, items in pictures.items():
            for i, data in enumerate(items):
                z.writestr(f"{name}-!-{i}.png", data)
    return path


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_tiny_pictures_of_64_megapixels_are_refused_before_decoding(tmp_path):
    """50 PNGs of 8,000 x 8,000 in a small .tm took 48 s of CPU and were accepted."""
    path = _tm(tmp_path / "huge.tm", {"a": [_png(8000, i) for i in range(25)], "b": [_png(8000, 100 + i) for i in range(25)]})
    assert path.stat().st_size < 500_000
    started = time.process_time()
    with pytest.raises(TeachableMachineProjectError, match="megapixels"):
        import_tm(Workspace(tmp_path / "ws"), path)
    assert time.process_time() - started < 10
    assert not list((tmp_path / "ws").glob("*teachable-project*"))


def _many_photos_tm(path, count: int = 1600):
    rng = np.random.default_rng(0)
    pictures: dict[str, list[bytes]] = {"a": [], "b": []}
    for i in range(count):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, format="JPEG")
        pictures["ab"[i % 2]].append(buffer.getvalue())
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("manifest.json", MANIFEST)
        for name, items in pictures.items():
            for i, data in enumerate(items):
                z.writestr(f"{name}-!-{i}.jpg", data)
    return path


def _send_upload(port: int, data: bytes) -> socket.socket:
    """A multipart upload of ``data`` to /api/projects/import-tm, sent whole; the answer not read."""
    boundary = "xyzzy"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"many.tm\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall((f"POST /api/projects/import-tm HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
                 + body)
    return sock


def _busy_then_quiet(server: Server, seconds: float = 3.0) -> float:
    """The server's CPU seconds over ``seconds`` of wall time."""
    before = _cpu_seconds(server.process.pid)
    time.sleep(seconds)
    return _cpu_seconds(server.process.pid) - before


def test_an_import_stops_when_the_client_leaves(tmp_path):
    data = _many_photos_tm(tmp_path / "many.tm").read_bytes()
    server = Server(tmp_path / "ws").start()
    try:
        sock = _send_upload(server.port, data)
        time.sleep(3)  # well into the import
        assert _busy_then_quiet(server, 1.0) > 0.3, "the import should be running"
        sock.close()
        time.sleep(2)
        assert _busy_then_quiet(server, 3.0) < 0.5
        assert httpx.get(server.base + "/api/projects", timeout=30).json() == []
        assert not list((tmp_path / "ws").glob(".building-*"))
    finally:
        server.stop()


def test_sigterm_during_an_import_stops_the_server(tmp_path):
    data = _many_photos_tm(tmp_path / "many.tm").read_bytes()
    server = Server(tmp_path / "ws").start()
    sock = _send_upload(server.port, data)
    try:
        time.sleep(3)
        server.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        server.process.wait(timeout=60)
        assert time.monotonic() - started < 15
        assert not list((tmp_path / "ws").glob(".building-*"))
    finally:
        sock.close()
        server.stop()


def test_a_number_of_500000_digits_is_refused_in_words(tmp_path):
    """Python's own advice ("use sys.set_int_max_str_digits()") is for programmers, not for someone
    opening a file (issue 36)."""
    path = tmp_path / "digits.tm"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("manifest.json", '{"type": "image", "version": "2.4.0", "appdata": {"trainEpochs": ' + "9" * 500_000 + "}}")
    with pytest.raises(TeachableMachineProjectError) as refused:
        import_tm(Workspace(tmp_path / "ws"), path)
    assert "thousands of digits" in str(refused.value) and "sys." not in str(refused.value)
