"""A newcomer's first five minutes, in Chromium (issue 17): the page says when the model no
longer matches the classes, explains the kinds and the path, guards against double actions,
keeps a reopened project's history, keeps two tabs in step, works by keyboard alone, passes an
automated accessibility check, and the API docs render. Screenshots land in
test-artifacts/screenshots/ (the main screens are copied into docs/img/ for docs/web-app.md)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from photos import photo, random_view
from test_browser import CHROMIUM, launch, new_page, playwright_instance, server, shot, videos  # noqa: F401

AXE = Path(__file__).resolve().parents[1] / ".node" / "node_modules" / "axe-core" / "axe.min.js"


def jpeg_views(name: str, count: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        buffer = io.BytesIO()
        random_view(photo(name), rng).resize((160, 160)).save(buffer, format="JPEG", quality=85)
        out.append(buffer.getvalue())
    return out


def make_project(base: str, name: str, classes: dict[str, str], per_class: int = 6, train: bool = True) -> dict:
    """A project made through the API (class name -> photo), trained with the default head."""
    project = httpx.post(f"{base}/api/projects", json={"name": name}).json()
    pid = project["id"]
    ids = [c["id"] for c in project["classes"]]
    while len(ids) < len(classes):
        ids.append(httpx.post(f"{base}/api/projects/{pid}/classes", json={"name": f"extra {len(ids)}"}).json()["id"])
    for class_id, (class_name, picture) in zip(ids, classes.items()):
        httpx.patch(f"{base}/api/projects/{pid}/classes/{class_id}", json={"name": class_name})
        files = [("files", (f"{i}.jpg", data, "image/jpeg")) for i, data in enumerate(jpeg_views(picture, per_class, class_id))]
        assert httpx.post(f"{base}/api/projects/{pid}/classes/{class_id}/samples", files=files, timeout=60).status_code == 201
    if train:
        assert httpx.post(f"{base}/api/projects/{pid}/train", json={"epochs": 20}, timeout=60).status_code == 202
        while httpx.get(f"{base}/api/projects/{pid}/train").json()["state"] not in ("done", "failed"):
            time.sleep(0.2)
    return httpx.get(f"{base}/api/projects/{pid}").json()


def choose_by_keyboard(page, refocus=None):
    """Enter on the focused button opens the file chooser (pressed again if the busy page missed it;
    ``refocus`` first puts the focus back, by keyboard, when a refresh of the page took it away)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        if attempt and refocus is not None and page.evaluate("() => document.activeElement === document.body"):
            refocus()
        try:
            with page.expect_file_chooser(timeout=8000) as chooser:
                page.keyboard.press("Enter")
            return chooser.value
        except PlaywrightTimeout:
            continue
    raise AssertionError("Enter on the focused button opened no file chooser")


def open_project(page, base: str, pid: str) -> None:
    page.goto(f"{base}/#/p/{pid}")
    page.wait_for_selector(".class-card")


def test_a_stale_model_says_so_and_keeps_its_own_labels(server, videos, playwright_instance, tmp_path):
    project = make_project(server, "Rock paper scissors", {"rock": "coffee", "paper": "rocket", "scissors": "cat"})
    pid = project["id"]
    errors: list[str] = []
    browser = launch(playwright_instance, videos["cat"])
    page = new_page(browser, errors, viewport={"width": 1400, "height": 1000})
    open_project(page, server, pid)
    assert not page.locator("#stale").is_visible()
    # rename rock -> fist, as the user did
    name = page.locator("input.class-name").nth(0)
    name.fill("fist")
    name.press("Enter")
    page.wait_for_function("() => document.querySelector('#stale').textContent.includes('Your classes changed')")
    # the preview's bars are the model's own classes until it is trained again
    page.get_by_role("button", name="File", exact=True).click()
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Choose a picture…").click()
    photo("cat").save(tmp_path / "cat.png")
    chooser.value.set_files(str(tmp_path / "cat.png"))
    page.wait_for_function("() => document.querySelector('#bars').dataset.winner === 'scissors'", timeout=30_000)
    labels = page.locator("#bars .bar").evaluate_all("bars => bars.map(b => b.dataset.label)")
    assert labels == ["rock", "paper", "scissors"]
    assert "trained before your changes" in page.locator("#model-note").inner_text()
    page.get_by_role("button", name="Export model").click()
    assert "3 classes: rock, paper, scissors" in page.locator("#export-classes").inner_text()
    assert "train again" in page.locator("#export-classes").inner_text()
    shot(page, "newcomer-01-stale-model")
    # training again makes it current, with the new name
    page.get_by_role("button", name="Train model").click()
    page.wait_for_function("() => document.querySelector('#stale').hidden", timeout=60_000)
    page.wait_for_function("() => [...document.querySelectorAll('#bars .bar')].map(b => b.dataset.label).join() === 'fist,paper,scissors'")
    assert errors == []
    browser.close()


def test_kinds_are_explained_and_the_path_is_shown(server, videos, playwright_instance, tmp_path):
    errors: list[str] = []
    browser = launch(playwright_instance, videos["cat"])
    page = new_page(browser, errors, viewport={"width": 1300, "height": 1000})
    page.goto(server)
    page.wait_for_selector(".kind-card")  # the kinds come from the server
    cards = page.locator(".kind-card")
    assert cards.count() == 4
    for i, title in enumerate(["Image project", "Sound project", "Pose project", "Hand gesture project"]):
        card = cards.nth(i)
        # the picture has loaded (on a busy machine it may still be on its way when the card is there)
        loaded = card.locator("img").evaluate(
            "img => img.complete ? img.naturalWidth > 0 : new Promise((done) => { img.onload = () => done(img.naturalWidth > 0);"
            " img.onerror = () => done(false); })")
        assert title in card.inner_text() and loaded
        assert len(card.locator("p").inner_text()) > 30  # a line saying what it learns
    shot(page, "newcomer-02-kinds")
    # At 1024 px: the four kinds on one row (the hand card not alone on a second), and a project card's
    # five buttons on one row.
    make_project(server, "Layout check", {"cat": "cat", "rocket": "rocket"}, per_class=1, train=False)
    page.set_viewport_size({"width": 1024, "height": 900})
    page.reload()
    page.wait_for_selector(".project-item")
    assert len({round(box["y"]) for box in (cards.nth(i).bounding_box() for i in range(4))}) == 1
    for i in range(4):  # each card's button inside its card
        card, button = cards.nth(i).bounding_box(), cards.nth(i).locator(".btn").bounding_box()
        assert button["x"] + button["width"] <= card["x"] + card["width"], (i, card, button)
    buttons = page.locator(".project-item").first.locator(".row .btn")
    assert buttons.count() == 5 and len({round(buttons.nth(i).bounding_box()["y"]) for i in range(5)}) == 1
    shot(page, "newcomer-02-kinds-1024")
    page.get_by_label("New project name").fill("First steps")
    page.get_by_role("button", name="New image project").click()
    page.wait_for_selector(".class-card")
    assert page.locator("ol.steps li.current").inner_text().endswith("Gather examples")
    assert page.get_by_role("button", name="Rename this class").count() == 2  # the pencil
    # gather both classes from files, then train: the step moves on and the preview starts by itself
    for index, picture in enumerate(["cat", "rocket"]):
        card = page.locator(".class-card").nth(index)
        with page.expect_file_chooser() as chooser:
            card.get_by_role("button", name="Upload").click()
        paths = []
        for j, data in enumerate(jpeg_views(picture, 4, 40 + index)):
            path = tmp_path / f"{picture}-{j}.jpg"
            path.write_bytes(data)
            paths.append(str(path))
        chooser.value.set_files(paths)
        page.wait_for_function(f"() => document.querySelectorAll('.class-card')[{index}].querySelector('.count').textContent.startsWith('4')")
    assert page.locator("ol.steps li.current").inner_text().endswith("Train the model")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if r.method == "POST" and r.url.endswith("/train") else None)
    page.get_by_role("button", name="Train model").dblclick()  # a double click sends one request
    page.wait_for_function("() => document.body.innerText.includes('Model trained')", timeout=60_000)
    assert len(requests) == 1
    assert not page.locator(".toast.error").count()
    page.wait_for_function("() => document.querySelector('.switch button').getAttribute('aria-pressed') === 'true'", timeout=30_000)
    page.wait_for_function("() => document.querySelector('#bars').dataset.winner === 'Class 1'", timeout=30_000)
    assert page.locator("ol.steps li.current").inner_text().endswith("Preview and export")
    # the ONNX export says it is working while it works
    page.get_by_role("button", name="Export model").click()
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="Download ONNX bundle (.zip)").click()
        page.wait_for_function("() => document.querySelector('#export-panel [role=status]').textContent.includes('Preparing')")
        assert page.get_by_role("button", name="Download ONNX bundle (.zip)").is_disabled()
    assert download.value.suggested_filename.endswith("-onnx.zip")
    shot(page, "newcomer-03-trained-preview")
    assert errors == []
    browser.close()


def test_a_reopened_project_keeps_its_history_and_a_name_of_its_own(server, videos, playwright_instance, tmp_path):
    project = make_project(server, "Keep me", {"cat": "cat", "rocket": "rocket"})
    saved = tmp_path / "keep-me.teachable-project"
    saved.write_bytes(httpx.get(f"{server}/api/projects/{project['id']}/file").content)
    errors: list[str] = []
    browser = launch(playwright_instance, videos["cat"])
    page = new_page(browser, errors, viewport={"width": 1300, "height": 1000})
    page.goto(server)
    page.wait_for_selector(".kind-card")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Open from file…").click()
    chooser.value.set_files(str(saved))
    page.wait_for_selector(".class-card")
    assert page.locator("input.title").input_value() == "Keep me (2)"
    page.wait_for_function("() => document.body.innerText.includes('Model trained (trained head)')")
    page.locator("#under-the-hood summary").click()
    assert page.locator("#confusion").is_visible()
    drawn = page.locator("canvas.chart").first.evaluate(
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 2 && v > 200 && v < 250)")
    assert drawn  # the loss curve (blue) is drawn
    shot(page, "newcomer-04-reopened")
    assert errors == []
    browser.close()


def test_two_tabs_stay_in_step_and_errors_name_no_ids(server, videos, playwright_instance):
    project = make_project(server, "Two tabs", {"cat": "cat", "rocket": "rocket", "coffee": "coffee"}, per_class=2, train=False)
    pid = project["id"]
    errors: list[str] = []
    browser = launch(playwright_instance, videos["cat"])
    first, second = (new_page(browser, errors, viewport={"width": 1300, "height": 900}) for _ in range(2))
    open_project(first, server, pid)
    open_project(second, server, pid)
    coffee = project["classes"][2]["id"]
    first.locator(".class-card").nth(2).locator("summary").click()
    first.once("dialog", lambda dialog: dialog.accept())
    first.get_by_role("button", name="Delete class").click()
    second.wait_for_function("() => document.querySelectorAll('.class-card').length === 2", timeout=10_000)
    late = httpx.post(f"{server}/api/projects/{pid}/classes/{coffee}/samples", files=[("files", ("a.jpg", jpeg_views("coffee", 1, 9)[0], "image/jpeg"))])
    assert late.status_code == 404 and str(coffee) not in late.json()["error"] and "another tab" in late.json()["error"]
    assert errors == []
    browser.close()


def test_background_noise_is_locked_in_a_sound_project(server, videos, playwright_instance):
    project = httpx.post(f"{server}/api/projects", json={"name": "Words", "kind": "sound"}).json()
    background = project["classes"][0]
    assert background["name"] == "Background Noise"
    for response in (httpx.patch(f"{server}/api/projects/{project['id']}/classes/{background['id']}", json={"name": "x"}),
                     httpx.delete(f"{server}/api/projects/{project['id']}/classes/{background['id']}")):
        assert response.status_code == 409 and "cannot be" in response.json()["error"]
    errors: list[str] = []
    browser = launch(playwright_instance, videos["cat"])
    page = new_page(browser, errors, viewport={"width": 1300, "height": 900})
    open_project(page, server, project["id"])
    card = page.locator(".class-card").nth(0)
    assert card.locator("input.class-name").get_attribute("readonly") is not None
    card.locator("summary").click()
    assert card.get_by_role("button", name="Delete class").count() == 0
    page.keyboard.press("Escape")  # Escape closes the menu
    assert not card.locator("details.menu").evaluate("d => d.open")
    assert errors == []
    browser.close()


def test_keyboard_alone_goes_from_a_new_project_to_an_export(server, videos, playwright_instance, tmp_path):
    for picture in ("cat", "rocket"):
        for j, data in enumerate(jpeg_views(picture, 3, 60)):
            (tmp_path / f"{picture}-{j}.jpg").write_bytes(data)
    errors: list[str] = []
    browser = launch(playwright_instance, videos["rocket"])
    page = new_page(browser, errors, viewport={"width": 1300, "height": 900})
    page.goto(server)
    page.wait_for_selector(".kind-card")

    def tab_to(name: str, limit: int = 60) -> int:
        """Press Tab until the focused element is the named control; how many presses it took."""
        for presses in range(1, limit + 1):
            page.keyboard.press("Tab")
            label = page.evaluate("() => { const e = document.activeElement; return (e.getAttribute('aria-label') || e.textContent || '').trim(); }")
            assert page.evaluate("() => document.activeElement.type !== 'file'")  # no invisible stops
            if label == name:
                return presses
        raise AssertionError(f"{name!r} was not reached in {limit} Tab presses")

    tab_to("New project name")
    page.keyboard.type("By keyboard")
    page.keyboard.press("Enter")
    page.wait_for_selector(".class-card")
    for index, picture in enumerate(("cat", "rocket")):
        def to_upload(index=index) -> None:
            for _ in range(index + 1):
                tab_to("Upload")

        to_upload()
        assert page.evaluate("() => document.activeElement.closest('.class-card') === document.querySelectorAll('.class-card')[%d]" % index)
        chooser = choose_by_keyboard(page, to_upload)
        chooser.set_files([str(p) for p in sorted(tmp_path.glob(f"{picture}-*.jpg"))])
        page.wait_for_function(f"() => document.querySelectorAll('.class-card')[{index}].querySelector('.count').textContent.startsWith('3')")
        page.locator("a.btn").first.focus()  # back to the top of the page, as Shift+Tab would
    presses = tab_to("Train model")
    assert presses < 25, f"{presses} Tab presses to reach Train"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.body.innerText.includes('Model trained')", timeout=60_000)
    tab_to("Export model")
    page.keyboard.press("Enter")
    tab_to("Download .teachable")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename == "by-keyboard.teachable"
    assert errors == []
    browser.close()


@pytest.mark.skipif(not AXE.exists(), reason="needs axe-core from npm (make test installs it)")
def test_no_serious_accessibility_violations(server, videos, playwright_instance):
    project = make_project(server, "Accessible", {"cat": "cat", "rocket": "rocket"}, per_class=3)
    browser = launch(playwright_instance, videos["cat"])
    context = browser.new_context(bypass_csp=True, viewport={"width": 1300, "height": 900})  # to inject axe-core
    page = context.new_page()
    found = {}
    for name, url in (("projects", server), ("project", f"{server}/#/p/{project['id']}")):
        page.goto(url)
        page.wait_for_selector(".kind-card" if name == "projects" else ".class-card")
        page.wait_for_timeout(500)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                               ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))")
        found[name] = [v for v in result if v["impact"] in ("serious", "critical")]
    assert found == {"projects": [], "project": []}, json.dumps(found, indent=1)
    browser.close()


def test_api_docs_render_offline_and_an_operation_can_be_tried(server, videos, playwright_instance):
    errors: list[str] = []
    browser = launch(playwright_instance, videos["cat"])
    page = new_page(browser, errors, viewport={"width": 1300, "height": 1000})
    page.route("https://**/*", lambda route: route.abort())  # nothing from a CDN
    page.goto(f"{server}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert "Unable to render" not in page.content()
    operations = page.locator(".opblock").count()
    assert operations >= 25, operations
    health = page.locator(".opblock-get", has_text="/api/health").first
    health.locator(".opblock-summary").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()
    status = page.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for(timeout=30_000)
    assert status.inner_text().strip() == "200"
    shot(page, "newcomer-05-api-docs")
    browser.close()
