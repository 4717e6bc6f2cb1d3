"""A sound project in the browser: Chromium's fake microphone plays real speech (espeak-ng)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sounds import ESPEAK, TRAIN_VOICES, noise, speak
from test_browser import CHROMIUM, new_page, preview_started, server, shot  # noqa: F401  (server is a fixture)

pytestmark = pytest.mark.skipif(not (Path(CHROMIUM).exists() and ESPEAK), reason="needs chromium and espeak-ng")


def speech_loop(path: Path, word: str, folder: Path) -> Path:
    """The word said again and again (different voices), for the fake microphone."""
    pieces = []
    for i, voice in enumerate(TRAIN_VOICES[:4]):
        clip, rate = sf.read(speak(folder / f"loop-{word}-{i}.wav", word, voice, 50, 160), dtype="float32")
        assert rate == 22050
        pieces += [clip, np.zeros(int(0.15 * rate), np.float32)]
    sf.write(path, np.concatenate(pieces * 3), 22050, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def test_sound_project_flow(server, playwright_instance, tmp_path):  # noqa: F811
    errors: list[str] = []
    banana = speech_loop(tmp_path / "banana-loop.wav", "banana", tmp_path)
    stop_dir = tmp_path / "stop"
    stop_dir.mkdir()
    stops = [speak(stop_dir / f"{v}-{p}.wav", "stop", v, p, 170) for v in TRAIN_VOICES for p in (35, 65)][:10]
    rng = np.random.default_rng(0)
    quiet = []
    for i in range(20):
        quiet.append(tmp_path / f"noise-{i}.wav")
        sf.write(quiet[-1], noise(1.0, rng, rng.uniform(0.005, 0.03)), 16000)
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=[
        "--headless", "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={banana}", "--autoplay-policy=no-user-gesture-required",
        "--disable-background-networking"])
    page = new_page(browser, errors, viewport={"width": 1400, "height": 1000})
    try:
        flow(page, server, quiet, stops)
    except Exception:
        shot(page, "sound-failure")
        raise
    finally:
        browser.close()
    assert not errors, errors


def flow(page, server, quiet, stops) -> None:  # noqa: F811
    page.goto(server)
    page.get_by_label("New project name").fill("Words")
    page.get_by_role("button", name="New sound project").click()
    page.wait_for_selector(".class-card")
    names = page.locator("input.class-name")
    assert names.nth(0).input_value() == "Background Noise"
    names.nth(1).fill("banana")
    names.nth(1).press("Enter")
    page.get_by_role("button", name="+ Add a class").click()
    page.wait_for_function("() => document.querySelectorAll('.class-card').length === 3")
    names.nth(2).fill("stop")
    names.nth(2).press("Enter")
    # background noise and "stop" from files
    page.locator(".class-card").nth(0).locator("input[type=file]").set_input_files([str(p) for p in quiet])
    page.locator(".class-card").nth(2).locator("input[type=file]").set_input_files([str(p) for p in stops])
    page.wait_for_function("() => document.querySelectorAll('.class-card .count')[0].innerText.startsWith('20 /')")
    assert page.get_by_role("button", name="Train model").is_disabled()
    assert "banana (0/8)" in page.locator(".reason").inner_text()
    # "banana" from the microphone: hold to record for ~10 seconds
    card = page.locator(".class-card").nth(1)
    card.get_by_role("button", name="Microphone").click()
    button = card.get_by_role("button", name="Hold to record")
    button.wait_for()
    page.wait_for_timeout(500)
    box = button.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(10_500)
    page.mouse.up()
    page.wait_for_function("() => parseInt(document.querySelectorAll('.class-card .count')[1].innerText) >= 8", timeout=30_000)
    shot(page, "sound-01-recorded")
    card.get_by_role("button", name="Microphone").click()  # close it
    # train and listen: the fake microphone keeps saying "banana"
    page.get_by_role("button", name="Train model").click()
    page.wait_for_function("() => document.body.innerText.includes('Model trained')", timeout=120_000)
    preview_started(page)  # listening starts by itself after training
    page.wait_for_function(f"() => document.querySelector('#bars').dataset.winner === {json.dumps('banana')}", timeout=30_000)
    page.wait_for_timeout(1000)
    shot(page, "sound-02-listening")
