"""The classroom path (issue 33): `teachable serve --host 0.0.0.0 --https` with the teacher's token;
a student's browser, without it, trusts the authority from the printed link, opens the sketch editor
on the network address with the teacher's published 3-class model, and the default sketch reads
every class right from a webcam showing it (the centre square, not mirrored, as the samples were
captured; the frame's sides show another class, which a squashed frame would mix in). The same
student reaches no project."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

import teachable
from teachable.dataset import Dataset
from teachable.server.routes.sketches import libraries_installed
from teachable.server.tls import local_names
from teachable.workspace import Workspace

from media import write_y4m
from photos import photo
from servers import free_port
from test_browser import CHROMIUM, playwright_instance, shot  # noqa: F401 (a fixture)

CLASSES = ("cat", "rocket", "astronaut")
TOKEN = "teachers-own-token-for-the-test"
pytestmark = [pytest.mark.skipif(not libraries_installed(), reason="the sketch libraries are not installed (make vendor)"),
              pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium")]


def views(name: str, rng: np.random.Generator, count: int) -> list[Image.Image]:
    """Square crops of a photo, never mirrored (as the app's webcam stores them)."""
    source = photo(name)
    out = []
    for _ in range(count):
        side = int(min(source.size) * rng.uniform(0.7, 0.95))
        left = int(rng.integers(0, source.size[0] - side + 1))
        top = int(rng.integers(0, source.size[1] - side + 1))
        out.append(source.crop((left, top, left + side, top + side)).resize((224, 224)))
    return out


def webcam_frame(name: str, other: str) -> Image.Image:
    """A 4:3 camera frame: the class's photo in the centre square, another class's at the sides."""
    frame = photo(other).resize((640, 480))
    centre = photo(name)
    side = min(centre.size)
    centre = centre.crop(((centre.size[0] - side) // 2, (centre.size[1] - side) // 2,
                          (centre.size[0] + side) // 2, (centre.size[1] + side) // 2)).resize((480, 480))
    frame.paste(centre, (80, 0))
    return frame


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    root = tmp_path_factory.mktemp("classroom")
    rng = np.random.default_rng(33)
    data = root / "data"
    for name in CLASSES:
        (data / name).mkdir(parents=True)
        for i, view in enumerate(views(name, rng, 8)):
            view.save(data / name / f"{i}.jpg", quality=92)
    workspace = Workspace(root / "ws")
    model = teachable.train(Dataset.from_folder(data), classifier="head", epochs=30)
    project = workspace.create("Three things")
    project.store_model(model, {"classifier": "head"})
    key = project.publish(True)
    project_id = project.path.stem
    project.close()
    lan = next((n for n in local_names("0.0.0.0") if n.count(".") == 3 and not n.startswith("127.")), None)
    if lan is None:
        pytest.skip("this machine has no network address besides loopback")
    port = free_port()
    env = {**os.environ, "TEACHABLE_TOKEN": TOKEN, "TEACHABLE_TLS_DIR": str(root / "tls")}
    log = open(root / "serve.log", "w+")
    process = subprocess.Popen([sys.executable, "-m", "teachable.cli", "serve", "--host", "0.0.0.0", "--https",
                                "--port", str(port), "--workspace", str(root / "ws")], stderr=log, env=env)
    try:
        for _ in range(300):
            log.seek(0)
            printed = log.read()
            if "Students need no token" in printed:
                break
            time.sleep(0.1)
        base = re.search(r"running at (https://[^/]+)/", printed).group(1)
        for _ in range(300):
            try:
                httpx.get(f"{base}/api/health", verify=False, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield {"base": base, "printed": printed, "key": key, "project": project_id, "model": model, "root": root}
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_the_printed_links_are_ones_a_student_can_type(classroom):
    printed, base = classroom["printed"], classroom["base"]
    host = base.split("://")[1].rsplit(":", 1)[0]
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", host) and not host.startswith("127."), base  # an address, not a name
    assert f"open {base}/tls/authority.pem and install it" in printed  # the trust hint is a full URL
    assert f"{base}/sketch/" in printed


def test_a_student_without_the_token_reaches_the_editor_and_no_project(classroom, tmp_path):
    base = classroom["base"]
    authority = tmp_path / "authority.pem"
    with httpx.Client(base_url=base, verify=False) as anyone:
        answer = anyone.get("/tls/authority.pem")
        assert answer.status_code == 200 and answer.text.startswith("-----BEGIN CERTIFICATE-----")
        authority.write_bytes(answer.content)
    # Trusting that authority is enough to reach the server over verified TLS.
    with httpx.Client(base_url=base, verify=ssl.create_default_context(cafile=str(authority)), timeout=120) as student:
        assert student.get("/sketch/").status_code == 200
        assert student.get("/vendor/ml5.min.js").status_code == 200
        assert student.get("/api/sketch/frame").json()["port"]
        assert student.get(f"/tm/{classroom['key']}/model.json").status_code == 200
        zipped = student.post("/api/sketch.zip", json={"code": "function setup() {}", "title": "mine"})
        assert zipped.status_code == 200
        # ... and nothing of the projects: not the list, not one, not its samples, no change
        for method, path in (("GET", "/api/projects"), ("GET", f"/api/projects/{classroom['project']}"),
                             ("GET", f"/api/projects/{classroom['project']}/samples"),
                             ("POST", "/api/projects"), ("DELETE", f"/api/projects/{classroom['project']}"),
                             ("PUT", f"/api/projects/{classroom['project']}/publish")):
            refused = student.request(method, path, json={"name": "x", "published": False})
            assert refused.status_code == 401 and "token" in refused.json()["error"], (method, path)
        # a refused page is a page that says what to do
        page = student.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
        assert "Student" in page.text and 'href="/sketch/"' in page.text
    with httpx.Client(base_url=base, verify=False) as teacher:  # the teacher's projects are still there
        assert [p["name"] for p in teacher.get("/api/projects", params={"token": TOKEN}).json()] == ["Three things"]


@pytest.mark.parametrize("name", CLASSES)
def test_the_default_sketch_reads_each_class_from_a_students_webcam(classroom, playwright_instance, tmp_path, name):
    other = CLASSES[(CLASSES.index(name) + 1) % len(CLASSES)]
    video = write_y4m(tmp_path / f"{name}.y4m", [webcam_frame(name, other)], repeat=10)
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=[
        "--headless", "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--ignore-certificate-errors"])
    try:
        context = browser.new_context()  # a student's browser: no token, no cookie
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{classroom['base']}/sketch/?model=/tm/{classroom['key']}/")
        page.wait_for_function("() => document.querySelector('.CodeMirror') && "
                               "document.querySelector('.CodeMirror').CodeMirror.getValue().includes('/tm/')")
        page.get_by_role("button", name="▶ Run").click()
        labels = set(CLASSES)
        seen: list[str] = []
        # The first answer may be of the camera's first (black) frame, and each takes seconds on
        # the CPU: wait for the class (at most two minutes), then check it stays.
        for _ in range(240):
            seen = [line for line in page.locator("#sketch-console div").all_inner_texts() if line in labels]
            if seen and seen[-1] == name:
                break
            page.wait_for_timeout(500)
        page.wait_for_timeout(3000)
        seen = [line for line in page.locator("#sketch-console div").all_inner_texts() if line in labels]
        shot(page, f"classroom-sketch-{name}")
        assert seen and seen[-1] == name, seen
        assert not errors, errors
        status = page.evaluate("async () => (await fetch('/api/projects')).status")
        assert status == 401
    finally:
        browser.close()


def test_library_noise_is_marked_as_the_librarys(classroom, playwright_instance, tmp_path):
    """ml5.js's banner and its WebGPU probe are shown apart, as the library's; what the sketch
    itself prints is the student's."""
    video = write_y4m(tmp_path / "cat.y4m", [webcam_frame("cat", "rocket")], repeat=10)
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=[
        "--headless", "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}", "--disable-gpu", "--disable-background-networking",
        "--ignore-certificate-errors"])
    try:
        page = browser.new_page()
        page.goto(f"{classroom['base']}/sketch/?model=/tm/{classroom['key']}/")
        page.wait_for_function("() => document.querySelector('.CodeMirror') && "
                               "document.querySelector('.CodeMirror').CodeMirror.getValue().includes('/tm/')")
        page.get_by_role("button", name="▶ Run").click()
        page.wait_for_function("() => [...document.querySelectorAll('#sketch-console .console-log')]"
                               ".some((d) => d.textContent === 'cat')", timeout=120_000)
        library = page.locator("#sketch-console .console-library").all_inner_texts()
        own = page.locator("#sketch-console .console-log, #sketch-console .console-error").all_inner_texts()
        assert library and all(line.startswith("ml5: ") for line in library), library
        assert not any("ml5" in line or "webgpu" in line.lower() for line in own), own
    finally:
        browser.close()
