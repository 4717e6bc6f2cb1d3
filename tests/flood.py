"""Run inside a network namespace of its own (`unshare -n`, made by test_access.py): a client with a
network address (10.77.0.2, not loopback) floods `teachable serve --host 0.0.0.0` with connections
that never finish their headers, while the key holder asks for pages. Prints one JSON line."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import httpx

SERVER, ATTACKER, PORT, TOKEN = "10.77.0.1", "10.77.0.2", 8765, "flood-test-token"

for command in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{SERVER}/24", "dev", "lo"],
                ["ip", "addr", "add", f"{ATTACKER}/24", "dev", "lo"]):
    subprocess.run(command, check=True)
log = tempfile.NamedTemporaryFile(suffix=".log", delete=False)
server = subprocess.Popen([sys.executable, "-m", "teachable.cli", "serve", "--host", "0.0.0.0", "--port", str(PORT),
                           "--workspace", tempfile.mkdtemp()], stdout=log, stderr=log,
                          env={**os.environ, "TEACHABLE_TOKEN": TOKEN})
base = f"http://{SERVER}:{PORT}"
for _ in range(300):
    try:
        httpx.get(base + "/api/health", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=1)
        break
    except httpx.HTTPError:
        time.sleep(0.1)
held, refused = [], 0
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 2000):
    s = socket.socket()
    s.bind((ATTACKER, 0))
    s.settimeout(2)
    try:
        s.connect((SERVER, PORT))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the end of the headers
        held.append(s)
    except OSError:
        refused += 1
        s.close()
time.sleep(0.5)
open_by_server = len(os.listdir(f"/proc/{server.pid}/fd"))
answers = []
for _ in range(5):  # the key holder, from another address of the network
    started = time.monotonic()
    try:
        code = httpx.get(base + "/api/projects", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).status_code
    except httpx.HTTPError as exc:
        code = type(exc).__name__
    answers.append([code, round(time.monotonic() - started, 3)])

for s in held:
    s.close()
server.terminate()
server.wait(timeout=30)
text = open(log.name, encoding="utf-8", errors="replace").read()
print(json.dumps({"answers": answers, "log_bytes": len(text), "refusal_lines": text.count("refusing new connections"),
                  "tracebacks": text.count("Traceback"), "server_fds": open_by_server, "connect_failures": refused}))
