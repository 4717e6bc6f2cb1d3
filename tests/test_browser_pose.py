"""A pose project in the browser: Chromium's fake webcam shows real photos of a person
(scikit-image's cameraman, then his mirror image); the page draws the skeleton MediaPipe finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media import write_y4m
from people import TRAIN_MOVES, moved, person
from test_browser import CHROMIUM, launch, settled_count_of, new_page, preview_started, record, server, shot, train, wait_for_bars  # noqa: F401

pytestmark = [pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
              pytest.mark.skipif(pytest.importorskip("mediapipe") is None, reason="needs mediapipe")]


def webcam_video(path: Path, mirrored: bool) -> Path:
    """640x480 frames with the person in the middle square (the part the page captures)."""
    frames = []
    source = person("cameraman", mirrored)
    for move in TRAIN_MOVES[:4]:
        square = moved(source, *move).resize((480, 480))
        fill = tuple(int(v) for v in np.asarray(square).reshape(-1, 3).mean(axis=0))
        frame = Image.new("RGB", (640, 480), fill)
        frame.paste(square, (80, 0))
        frames.append(frame)
    return write_y4m(path, frames, repeat=8)


@pytest.fixture(scope="module")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def skeleton_points(page, selector: str) -> int:
    return int(page.locator(selector).first.get_attribute("data-points") or 0)


def test_pose_project_flow(server, playwright_instance, tmp_path):  # noqa: F811
    errors: list[str] = []
    straight = webcam_video(tmp_path / "cameraman.y4m", mirrored=False)
    mirrored = webcam_video(tmp_path / "cameraman-mirrored.y4m", mirrored=True)

    browser = launch(playwright_instance, straight)
    page = new_page(browser, errors, viewport={"width": 1400, "height": 1000})
    try:
        page.goto(server)
        page.get_by_label("New project name").fill("Poses")
        page.get_by_role("button", name="New pose project").click()
        page.wait_for_selector(".class-card")
        names = page.locator("input.class-name")
        names.nth(0).fill("filming")
        names.nth(0).press("Enter")
        names.nth(1).fill("filming mirrored")
        names.nth(1).press("Enter")
        page.wait_for_timeout(300)
        # the capture view shows the skeleton before anything is recorded
        page.locator(".class-card").nth(0).get_by_role("button", name="Webcam").click()
        page.wait_for_function("() => parseInt(document.querySelector('canvas.skeleton')?.dataset.points || '0') > 8", timeout=30_000)
        shot(page, "pose-01-capture-skeleton")
        page.locator(".class-card").nth(0).get_by_role("button", name="Webcam").click()  # close it again
        record(page, 0, seconds=2.5)
        page.wait_for_function("() => parseInt(document.querySelectorAll('.class-card .count')[0].innerText) >= 3", timeout=30_000)
        # every thumbnail carries the skeleton (drawn by the server)
        page.wait_for_function("() => [...document.querySelectorAll('.class-card')[0].querySelectorAll('.thumb img')].every(i => i.complete && i.naturalWidth > 0)")
        shot(page, "pose-02-recorded")
        project_url = page.url
    except Exception:
        shot(page, "pose-failure")
        raise
    finally:
        browser.close()

    browser = launch(playwright_instance, mirrored)
    page = new_page(browser, errors, viewport={"width": 1400, "height": 1000})
    try:
        page.goto(project_url)
        page.wait_for_selector(".class-card")
        record(page, 1, seconds=2.5)
        page.wait_for_function("() => parseInt(document.querySelectorAll('.class-card .count')[1].innerText) >= 3", timeout=30_000)
        # a picture with nobody in it is kept as a "nobody in view" example, and the page says so (issue 26)
        nobody = tmp_path / "coffee.jpg"
        Image.fromarray(__import__("skimage.data", fromlist=["coffee"]).coffee()).save(nobody)
        before = settled_count_of(page, 1)
        page.locator(".class-card").nth(1).locator("input[type=file]").set_input_files(str(nobody))
        page.wait_for_function("() => document.body.innerText.includes('no one in view: kept as')", timeout=30_000)
        page.wait_for_function(f"() => parseInt(document.querySelectorAll('.class-card .count')[1].innerText) == {before + 1}")
        shot(page, "pose-03-nobody-kept")

        train(page, "knn")
        preview_started(page)
        wait_for_bars(page, "filming mirrored")
        page.wait_for_function("() => parseInt(document.querySelector('section[aria-label=Preview] canvas.skeleton')?.dataset.points || '0') > 8")
        page.wait_for_timeout(800)
        shot(page, "pose-04-preview-skeleton")
        assert skeleton_points(page, "section[aria-label=Preview] canvas.skeleton") > 8
    except Exception:
        shot(page, "pose-failure")
        raise
    finally:
        browser.close()

    # an empty room on the webcam: the capture view says no one is in view, and recording keeps the frames
    room = Image.fromarray(__import__("skimage.data", fromlist=["coffee"]).coffee()).resize((640, 480))
    empty = write_y4m(tmp_path / "empty.y4m", [room], repeat=16)
    browser = launch(playwright_instance, empty)
    page = new_page(browser, errors, viewport={"width": 1400, "height": 1000})
    try:
        page.goto(project_url)
        page.wait_for_selector(".class-card")
        before = settled_count_of(page, 0)
        page.locator(".class-card").nth(0).get_by_role("button", name="Webcam").click()
        page.wait_for_function("() => document.body.innerText.includes('No one in view: these frames are kept')", timeout=30_000)
        shot(page, "pose-05-no-one-in-view")
        page.locator(".class-card").nth(0).get_by_role("button", name="Webcam").click()
        record(page, 0, seconds=1.5)
        page.wait_for_function(f"() => parseInt(document.querySelectorAll('.class-card .count')[0].innerText) > {before}",
                               timeout=30_000)
    except Exception:
        shot(page, "pose-failure")
        raise
    finally:
        browser.close()
    assert not errors, errors
