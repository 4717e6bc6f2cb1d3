"""The sketch page (/sketch/): Teachable Machine's p5.js + ml5.js snippet runs next to the published
model on the server's own address, with the libraries Teachable serves, offline; and the sketch's
code, sealed in its frame, cannot read the API."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

import teachable
from teachable.dataset import Dataset
from teachable.server.app import create_app
from teachable.server.routes.sketches import libraries_installed
from teachable.server.sketch_frame import create_frame_app
from teachable.workspace import Workspace

from media import write_y4m
from photos import photo, random_view, write_views
from servers import ThreadServer
from test_browser import CHROMIUM, launch, playwright_instance, shot  # noqa: F401 (a fixture)

needs_libraries = pytest.mark.skipif(not libraries_installed(), reason="the sketch libraries are not installed (make vendor)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`teachable serve`'s app with a trained, published image project (cat, rocket, astronaut)."""
    workspace = Workspace(tmp_path_factory.mktemp("ws"))
    model = teachable.train(Dataset.from_folder(write_views(tmp_path_factory.mktemp("d"), 6, 71)), classifier="head", epochs=30)
    project = workspace.create("Photos")
    project.store_model(model, {"classifier": "head"})
    key = project.publish(True)
    project.close()
    app = create_app(workspace)
    with ThreadServer(app) as base:
        # the sketch frame's own listener, as `teachable serve` starts it beside the app
        with ThreadServer(create_frame_app(int(base.rsplit(":", 1)[1]))) as frame_base:
            app.state.sketch_frame_port = int(frame_base.rsplit(":", 1)[1])
            yield {"base": base, "key": key, "model": model, "frame": frame_base}


def open_sketch(page, url: str) -> str:
    """The sketch page, once the page has put the project's sketch (pointing at /tm/) into the editor."""
    page.goto(url)
    page.wait_for_function("() => document.querySelector('.CodeMirror') && "
                           "document.querySelector('.CodeMirror').CodeMirror.getValue().includes('/tm/')")
    return page.evaluate("document.querySelector('.CodeMirror').CodeMirror.getValue()")


def console_lines(page) -> list[str]:
    return page.locator("#sketch-console div").all_inner_texts()


def wait_for_console(page, wanted, seconds: float = 60) -> list[str]:
    for _ in range(int(seconds * 2)):
        lines = console_lines(page)
        if any(wanted(line) for line in lines):
            return lines
        page.wait_for_timeout(500)
    return console_lines(page)


@needs_libraries
@pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium")
def test_the_default_sketch_shows_the_right_label_from_the_webcam(server, playwright_instance, tmp_path):
    rng = np.random.default_rng(72)
    video = write_y4m(tmp_path / "cat.y4m", [random_view(photo("cat"), rng).resize((480, 480)) for _ in range(3)], repeat=10)
    browser = launch(playwright_instance, video)
    try:
        browser.new_context().close()  # a first context (the teacher's tab), then a second, fresh one
        context = browser.new_context()
        blocked: list[str] = []
        # No network beyond this server: anything else a library tried to fetch would be refused here.
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith((server["base"], server["frame"]))
                      else (blocked.append(route.request.url), route.abort()))
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        code = open_sketch(page, f"{server['base']}/sketch/")
        assert f"{server['base']}/tm/{server['key']}/" in code and "ml5.imageClassifier" in code
        page.get_by_role("button", name="▶ Run").click()
        labels = server["model"].labels
        lines = wait_for_console(page, lambda line: line in labels)
        shot(page, "sketch-page")
        assert [line for line in lines if line in labels][-1] == "cat", lines[-10:]
        assert not errors and not blocked, (errors, blocked)
        # the sketch was kept in this browser: after a reload the editor still holds the edited code
        page.evaluate("document.querySelector('.CodeMirror').CodeMirror.setValue('// mine\\n' + "
                      "document.querySelector('.CodeMirror').CodeMirror.getValue())")
        page.reload()
        page.wait_for_function("() => document.querySelector('.CodeMirror') && "
                               "document.querySelector('.CodeMirror').CodeMirror.getValue().startsWith('// mine')")
    finally:
        browser.close()


@needs_libraries
@pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium")
def test_a_sketch_cannot_read_the_api_or_the_page(server, playwright_instance, tmp_path):
    video = write_y4m(tmp_path / "grey.y4m", [photo("coffee").resize((320, 240))], repeat=2)
    browser = launch(playwright_instance, video)
    try:
        page = browser.new_page()
        open_sketch(page, f"{server['base']}/sketch/")  # the attack replaces the project's sketch
        attack = """
const APP = "%s";
for (const [name, url] of [["HERE", "/api/projects"], ["APP", APP + "/api/projects"]]) {
  fetch(url).then((r) => r.text()).then((t) => console.log(name + " API ANSWERED " + t))
    .catch(() => console.log(name + " API REFUSED"));
}
fetch(APP + "/api/projects", { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"name": "x"}' })
  .then((r) => r.text()).then((t) => console.log("CREATE ANSWERED " + t)).catch(() => console.log("CREATE REFUSED"));
try { console.log("PARENT " + parent.document.title); } catch (e) { console.log("PARENT REFUSED"); }
console.log("STORAGE [" + Object.keys(localStorage).join(",") + "]");
console.log("COOKIE [" + document.cookie + "]");
""" % server["base"]
        page.evaluate("(code) => document.querySelector('.CodeMirror').CodeMirror.setValue(code)", attack)
        page.get_by_role("button", name="▶ Run").click()
        lines = wait_for_console(page, lambda line: line.startswith("CREATE"), 20)
        lines = wait_for_console(page, lambda line: line.startswith("APP API"), 5)
        lines = wait_for_console(page, lambda line: line.startswith("HERE API"), 5)
    finally:
        browser.close()
    text = "\n".join(lines)
    assert "APP API REFUSED" in text and "CREATE REFUSED" in text, text  # the app's API: another origin, refused
    assert "Photos" not in text, text  # the frame's own server has no API: nothing about any project
    assert "PARENT REFUSED" in text, text
    assert "teachable.sketch" not in text and "teachable_token" not in text, text  # the app's storage is not here
    import httpx

    assert len(httpx.get(f"{server['base']}/api/projects").json()) == 1  # nothing was created


def test_the_sketch_downloads_as_a_folder_that_runs_elsewhere(server):
    import httpx

    code = "function setup() { createCanvas(10, 10); }\nconst c = ml5.imageClassifier('x');"
    with httpx.Client(base_url=server["base"]) as http:
        project = http.get("/api/projects").json()[0]["id"]
        response = http.post(f"/api/projects/{project}/sketch.zip", json={"code": code, "title": "My <sketch>"})
        if not libraries_installed():
            assert response.status_code == 501 and "make vendor" in response.json()["error"]
            return
        assert response.status_code == 200
        names = set(zipfile.ZipFile(io.BytesIO(response.content)).namelist())
        assert names == {"sketch/index.html", "sketch/sketch.js", "sketch/README.txt", "sketch/p5.min.js",
                         "sketch/ml5.min.js", "sketch/NOTICE.md"}
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        assert archive.read("sketch/sketch.js").decode() == code
        index = archive.read("sketch/index.html").decode()
        assert "My &lt;sketch&gt;" in index and index.index("p5.min.js") < index.index("ml5.min.js") < index.index("sketch.js")
        assert http.post(f"/api/projects/{project}/sketch.zip", json={"code": "x" * 200_001}).status_code == 422
        assert http.post("/api/projects/nope/sketch.zip", json={"code": "x"}).status_code == 404


def test_the_sketch_frame_is_sealed_and_the_libraries_readable(server):
    import httpx

    with httpx.Client(base_url=server["base"]) as http:
        assert http.get("/sketch/frame").status_code == 404  # never in the app's own origin
        port = http.get("/api/sketch/frame").json()["port"]
        frame = httpx.get(f"{server['frame']}/sketch/frame")
        assert port == int(server["frame"].rsplit(":", 1)[1])
        policy = frame.headers["content-security-policy"]
        app_port = server["base"].rsplit(":", 1)[1]
        assert f"frame-ancestors http://*:{app_port} https://*:{app_port}" in policy
        assert f'"{app_port}"' in frame.text  # the runner takes code only from the app's page
        assert httpx.get(f"{server['frame']}/api/projects").status_code == 404  # the frame's server has no API
        page = http.get("/sketch/")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert http.get("/vendor/../app.py").status_code == 404
        assert http.get("/vendor/secret.txt").status_code == 404
        if libraries_installed():
            library = http.get("/vendor/p5.min.js")
            assert library.status_code == 200 and library.headers["cross-origin-resource-policy"] == "cross-origin"
            assert "Licen" in http.get("/vendor/NOTICE.md").text


def test_published_models_answer_the_private_network_preflight(server):
    import httpx

    url = f"/tm/{server['key']}/model.json"
    with httpx.Client(base_url=server["base"]) as http:
        asked = http.options(url, headers={"Origin": "https://editor.p5js.org", "Access-Control-Request-Method": "GET",
                                           "Access-Control-Request-Private-Network": "true"})
        assert asked.status_code == 204
        assert asked.headers["access-control-allow-private-network"] == "true"
        assert asked.headers["access-control-allow-origin"] == "*"
        plain = http.options(url, headers={"Origin": "https://editor.p5js.org", "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-private-network" not in plain.headers
        # the API does not: a page elsewhere gets no such permission for it
        api = http.options("/api/projects", headers={"Origin": "https://editor.p5js.org",
                                                     "Access-Control-Request-Method": "GET",
                                                     "Access-Control-Request-Private-Network": "true"})
        assert "access-control-allow-private-network" not in api.headers


@needs_libraries
@pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium")
def test_serve_model_has_the_sketch_page_too(server, playwright_instance, tmp_path):
    """`teachable serve-model MODEL`: the same page, its one model in the snippet, no projects."""
    from teachable.server.model_app import create_model_app

    path = tmp_path / "photos.teachable"
    server["model"].save(path)
    app = create_model_app(path)
    rng = np.random.default_rng(73)
    video = write_y4m(tmp_path / "rocket.y4m", [random_view(photo("rocket"), rng).resize((480, 480)) for _ in range(3)], repeat=10)
    with ThreadServer(app) as base, ThreadServer(create_frame_app(int(base.rsplit(":", 1)[1]))) as frame_base:
        app.state.sketch_frame_port = int(frame_base.rsplit(":", 1)[1])
        browser = launch(playwright_instance, video)
        try:
            page = browser.new_page()
            code = open_sketch(page, f"{base}/sketch/")
            assert f'"{base}/tm/"' in code
            page.get_by_role("button", name="▶ Run").click()
            labels = server["model"].labels
            lines = wait_for_console(page, lambda line: line in labels)
            assert [line for line in lines if line in labels][-1] == "rocket", lines[-10:]
            import httpx

            zipped = httpx.post(f"{base}/api/sketch.zip", json={"code": code, "title": "photos"})
            assert zipped.status_code == 200 and "photos-sketch.zip" in zipped.headers["content-disposition"]
        finally:
            browser.close()
