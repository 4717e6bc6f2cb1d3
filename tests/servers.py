"""`teachable serve` in its own process, as a user runs it, and small real photos to send it."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import numpy as np

from photos import photo, random_view


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`teachable serve` in its own process, on loopback."""

    def __init__(self, workspace, *args: str) -> None:
        self.workspace = workspace
        self.args = args  # more options for `teachable serve`
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.stderr = subprocess.DEVNULL  # or a file, to read what the server said

    def start(self) -> "Server":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "teachable.cli", "serve", "--port", str(self.port), "--workspace", str(self.workspace), *self.args],
            stderr=self.stderr, env=os.environ.copy())
        for _ in range(300):
            try:
                httpx.get(self.base + "/api/health", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("server did not start")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


    def peak_rss(self) -> int:
        """The server's largest resident memory so far, in bytes (Linux)."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc")


def jpegs(count: int, seed: int, side: int = 96, quality: int = 85) -> list[bytes]:
    """Webcam-like JPEGs: random views of the cat and the rocket, in turn."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        buffer = io.BytesIO()
        random_view(photo(["cat", "rocket"][i % 2]), rng).resize((side, side)).save(buffer, format="JPEG", quality=quality)
        out.append(buffer.getvalue())
    return out


class ThreadServer:
    """An ASGI app under uvicorn in a thread of the test process (port chosen by the system)."""

    def __init__(self, app) -> None:
        import threading

        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class FolderServer:
    """A folder served over HTTP on loopback from a thread (as `python -m http.server` serves a bundle)."""

    def __init__(self, folder) -> None:
        import functools
        import http.server
        import threading

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
