"""Cross-site attacks from a real page in Chromium: a page served on another port (another
origin, as any web site the user visits is) tries to change, upload to and read the app
running on loopback. Nothing may change, and the page may learn nothing."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from pathlib import Path

import httpx
import pytest

from crafted import HTML, small_project, tamper
from servers import Server, free_port, jpegs

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it)")

ATTACK = """<!doctype html><meta charset="utf-8"><title>A page elsewhere</title><pre id="out">running</pre>
<script>
const base = "http://127.0.0.1:%(port)d", project = "%(pid)s", cls = %(cid)d;
const results = {};
async function attempt(name, run) {
  try { results[name] = await run(); } catch (e) { results[name] = "error: " + e.message; }
}
(async () => {
  await attempt("clear", () => fetch(`${base}/api/projects/${project}/classes/${cls}/clear`, {method: "POST", mode: "no-cors"}).then(r => r.type));
  await attempt("train", () => fetch(`${base}/api/projects/${project}/train`, {method: "POST", mode: "no-cors"}).then(r => r.type));
  const crafted = await fetch("crafted.teachable-project").then(r => r.blob());
  const form = new FormData(); form.append("file", crafted, "crafted.teachable-project");
  await attempt("open", () => fetch(`${base}/api/projects/open`, {method: "POST", mode: "no-cors", body: form}).then(r => r.type));
  const upload = new FormData(); upload.append("files", new Blob([new Uint8Array([255, 216, 255])], {type: "image/jpeg"}), "x.jpg");
  await attempt("upload", () => fetch(`${base}/api/projects/${project}/classes/${cls}/samples`, {method: "POST", mode: "no-cors", body: upload}).then(r => r.type));
  await attempt("read", () => fetch(`${base}/api/projects`).then(r => r.text()));
  await attempt("image", () => new Promise(done => {
    const img = new Image(); img.onload = () => done("loaded"); img.onerror = () => done("refused");
    img.src = `${base}/api/projects/${project}/samples/1/thumbnail`;
  }));
  await attempt("socket", () => new Promise(done => {
    const ws = new WebSocket(`ws://127.0.0.1:%(port)d/api/projects/${project}/live`);
    ws.onopen = () => done("open"); ws.onerror = () => done("refused");
  }));
  document.getElementById("out").textContent = JSON.stringify(results, null, 1);
  document.title = "done";
})();
</script>"""


@pytest.fixture()
def app_server(tmp_path):
    running = Server(tmp_path / "ws").start()
    yield running
    running.stop()


def attack_site(folder: Path, app_port: int, pid: str, cid: int, crafted: bytes) -> tuple[http.server.ThreadingHTTPServer, str]:
    folder.mkdir()
    (folder / "attack.html").write_text(ATTACK % {"port": app_port, "pid": pid, "cid": cid})
    (folder / "crafted.teachable-project").write_bytes(crafted)
    port = free_port()
    site = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder)))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    return site, f"http://127.0.0.1:{port}/attack.html"


def victim(server: Server) -> tuple[str, int]:
    project = httpx.post(server.base + "/api/projects", json={"name": "victim"}).json()
    pid, cid = project["id"], project["classes"][0]["id"]
    for class_info, data in zip(project["classes"], jpegs(2, seed=21)):
        httpx.post(f"{server.base}/api/projects/{pid}/classes/{class_info['id']}/samples", files=[("files", ("a.jpg", data, "image/jpeg"))])
    return pid, cid


def crafted_project(tmp_path: Path) -> bytes:
    """A project file whose sample claims to be HTML with a script in it (the original attack)."""
    return tamper(small_project(tmp_path / "c.teachable-project"), "UPDATE samples SET data = ?, media_type = 'text/html'",
                  params=(HTML,)).read_bytes()


def run_attack(url: str, name: str) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run"])
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function("() => document.title === 'done'", timeout=60_000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        results = json.loads(page.locator("#out").inner_text())
        browser.close()
    return results


def state(server: Server, pid: str) -> dict:
    summary = httpx.get(f"{server.base}/api/projects/{pid}").json()
    return {"counts": [c["count"] for c in summary["classes"]], "training": summary["training"]["state"],
            "projects": len(httpx.get(server.base + "/api/projects").json())}


def test_a_page_on_another_origin_can_change_nothing_and_read_nothing(app_server, tmp_path):
    pid, cid = victim(app_server)
    before = state(app_server, pid)
    site, url = attack_site(tmp_path / "site", app_server.port, pid, cid, crafted_project(tmp_path))
    try:
        results = run_attack(url, "security-cross-site")
    finally:
        site.shutdown()
    assert state(app_server, pid) == before == {"counts": [1, 1], "training": "idle", "projects": 1}
    assert results["read"].startswith("error")  # no CORS: the page cannot read the answer
    assert results["image"] == "refused" and results["socket"] == "refused"


def test_the_same_attack_succeeds_against_an_origin_the_user_allowed(tmp_path):
    """The check is the origin, not the request's shape: allow the attacking origin with
    --allow-origin and the very same page clears the class (so the test above can fail)."""
    site_port = free_port()
    server = Server(tmp_path / "ws", "--allow-origin", f"http://127.0.0.1:{site_port}").start()
    try:
        pid, cid = victim(server)
        folder = tmp_path / "site"
        folder.mkdir()
        (folder / "attack.html").write_text(ATTACK % {"port": server.port, "pid": pid, "cid": cid})
        (folder / "crafted.teachable-project").write_bytes(crafted_project(tmp_path))
        site = http.server.ThreadingHTTPServer(("127.0.0.1", site_port), functools.partial(
            http.server.SimpleHTTPRequestHandler, directory=str(folder)))
        threading.Thread(target=site.serve_forever, daemon=True).start()
        try:
            results = run_attack(f"http://127.0.0.1:{site_port}/attack.html", "security-allowed-origin")
        finally:
            site.shutdown()
        assert state(server, pid)["counts"][0] == 0, results
        assert state(server, pid)["projects"] == 1  # the crafted file is still refused, on its own merits
    finally:
        server.stop()
