"""The web app in a real browser: Debian's Chromium driven by Playwright, a fake webcam fed
with real photos. Screenshots of each step land in test-artifacts/screenshots/."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from media import write_y4m
from photos import photo, random_view, write_views
from servers import ThreadServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from teachable.server import create_app

    with ThreadServer(create_app(tmp_path_factory.mktemp("workspace"))) as base:
        yield base


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    import numpy as np

    folder = tmp_path_factory.mktemp("video")
    rng = np.random.default_rng(5)
    made = {}
    for name in ("cat", "rocket", "astronaut"):
        source = photo(name)
        frames = [random_view(source, rng) for _ in range(6)]
        made[name] = write_y4m(folder / f"{name}.y4m", frames, repeat=4)
    return made


@pytest.fixture(scope="module")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def launch(playwright_instance, video: Path, downloads: Path | None = None):
    return playwright_instance.chromium.launch(
        executable_path=CHROMIUM,
        args=["--headless", "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              f"--use-file-for-fake-video-capture={video}", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--no-first-run"],
    )


def new_page(browser, errors: list, **options):
    page = browser.new_page(**options)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def record(page, card_index: int, seconds: float = 1.6) -> None:
    """Open the class card's webcam and hold the record button down."""
    card = page.locator(".class-card").nth(card_index)
    card.get_by_role("button", name="Webcam").click()
    button = card.get_by_role("button", name="Hold to record")
    button.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('video.cam')].some(v => v.videoWidth > 0)")
    box = button.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(seconds * 1000)
    page.mouse.up()


def count_of(page, card_index: int) -> int:
    text = page.locator(".class-card .count").nth(card_index).inner_text()
    return int(text.split()[0])


def settled_count_of(page, card_index: int) -> int:
    """The count once it stops changing (the last recorded frames may still be on their way)."""
    last = count_of(page, card_index)
    for _ in range(40):
        page.wait_for_timeout(500)
        now = count_of(page, card_index)
        if now == last:
            return now
        last = now
    return last


def wait_for_bars(page, expected: str, timeout: float = 30_000) -> None:
    page.wait_for_function(f"() => document.querySelector('#bars').dataset.winner === {json.dumps(expected)}", timeout=timeout)


def train(page, classifier: str) -> None:
    advanced = page.locator("details.section summary", has_text="Advanced")
    if not page.locator("#opt-classifier").is_visible():
        advanced.click()
    page.select_option("#opt-classifier", classifier)
    page.wait_for_timeout(400)
    page.get_by_role("button", name="Train model").click()
    page.wait_for_function("() => document.body.innerText.includes('Model trained')", timeout=120_000)


def preview_started(page) -> None:
    """After training the preview starts by itself (as in Teachable Machine): wait for it."""
    page.wait_for_function("() => document.querySelector('section[aria-label=Preview] .switch button').getAttribute('aria-pressed') === 'true'",
                           timeout=30_000)


def test_teachable_machine_flow(server, videos, playwright_instance, tmp_path):
    errors: list[str] = []
    # 1. a project, with the camera showing a cat: record the first class
    browser = launch(playwright_instance, videos["cat"])
    page = new_page(browser, errors, viewport={"width": 1400, "height": 1000})
    page.goto(server)
    page.get_by_label("New project name").fill("Webcam things")
    page.get_by_role("button", name="New image project").click()
    page.wait_for_selector(".class-card")
    shot(page, "01-new-project")
    names = page.locator("input.class-name")
    names.nth(0).fill("cat")
    names.nth(0).press("Enter")
    names.nth(1).fill("rocket")
    names.nth(1).press("Enter")
    page.wait_for_timeout(300)
    record(page, 0)
    page.wait_for_function("() => parseInt(document.querySelectorAll('.class-card .count')[0].innerText) >= 4")
    shot(page, "02-recorded-cat")
    project_url = page.url
    # the Train button explains why it is disabled
    assert page.get_by_role("button", name="Train model").is_disabled()
    assert "rocket" in page.locator(".reason").inner_text()
    browser.close()

    # 2. the camera now shows a rocket: record the second class
    browser = launch(playwright_instance, videos["rocket"])
    page = new_page(browser, errors, viewport={"width": 1400, "height": 1000})
    page.goto(project_url)
    page.wait_for_selector(".class-card")
    record(page, 1)
    page.wait_for_function("() => parseInt(document.querySelectorAll('.class-card .count')[1].innerText) >= 4")

    # 3. a third class filled by uploading files
    page.get_by_role("button", name="+ Add a class").click()
    page.wait_for_function("() => document.querySelectorAll('.class-card').length === 3")
    third = page.locator("input.class-name").nth(2)
    third.fill("coffee")
    third.press("Enter")
    uploads = write_views(tmp_path / "uploads", per_class=6, seed=9, classes=["coffee"]) / "coffee"
    page.locator(".class-card").nth(2).locator("input[type=file]").set_input_files(sorted(str(p) for p in uploads.glob("*.jpg")))
    page.wait_for_function("() => parseInt(document.querySelectorAll('.class-card .count')[2].innerText) === 6")
    shot(page, "03-three-classes")

    # 4. train the head; the live webcam preview (a rocket) must say rocket
    train(page, "head")
    page.locator("details#under-the-hood summary").click()
    shot(page, "04-trained-head")
    preview_started(page)
    wait_for_bars(page, "rocket")
    page.wait_for_timeout(1500)
    shot(page, "05-preview-webcam-head")
    # a file in the preview: a coffee photo must say coffee
    page.locator("section[aria-label=Preview] .switch button", has_text="File").click()
    coffee = tmp_path / "coffee-test.jpg"
    random_view(photo("coffee"), __import__("numpy").random.default_rng(77)).save(coffee)
    page.locator("section[aria-label=Preview] input[type=file]").set_input_files(str(coffee))
    wait_for_bars(page, "coffee")
    shot(page, "06-preview-file")

    # 5. kNN: train and preview again
    train(page, "knn")
    page.locator("section[aria-label=Preview] .switch button", has_text="Webcam").click()
    wait_for_bars(page, "rocket")
    shot(page, "07-preview-webcam-knn")

    # 6. export: the downloaded model loads in the CLI and agrees with the page
    page.get_by_role("button", name="Export model").click()
    page.wait_for_selector("#export-panel:not([hidden])")
    shot(page, "08-export")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download .teachable").click()
    model_path = tmp_path / "exported.teachable"
    info.value.save_as(model_path)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download ONNX bundle (.zip)").click()
    bundle = tmp_path / "bundle.zip"
    info.value.save_as(bundle)
    import zipfile

    assert "model.onnx" in zipfile.ZipFile(bundle).namelist()
    browser.close()
    result = subprocess.run([sys.executable, "-m", "teachable.cli", "predict", str(model_path), str(coffee), "--json"],
                            capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label"] == "coffee"
    assert not errors, errors


def test_projects_page_lists_and_deletes(server, videos, playwright_instance):
    browser = launch(playwright_instance, videos["astronaut"])
    errors: list[str] = []
    page = new_page(browser, errors, viewport={"width": 420, "height": 900})  # phone width
    page.goto(server)
    page.get_by_label("New project name").fill("To be deleted")
    page.get_by_role("button", name="New image project").click()
    page.wait_for_selector(".class-card")
    shot(page, "09-phone-width-project")
    page.goto(server)
    page.wait_for_selector(".project-item")
    shot(page, "10-projects-page")
    item = page.locator(".project-item", has_text="To be deleted")
    page.once("dialog", lambda dialog: dialog.accept())
    item.get_by_role("button", name="Delete").click()
    page.wait_for_function("() => !document.body.innerText.includes('To be deleted')")
    browser.close()
    assert not errors, errors
