"""A page on another origin loads a published model with Teachable Machine's own library
(@teachablemachine/image 0.8.5 on tfjs 1.3.1) and with ml5.js 1.x, in Debian's Chromium, offline,
and predicts what Teachable predicts."""

from __future__ import annotations

import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import teachable
from teachable.dataset import Dataset
from teachable.embed.preprocess import pixels
from teachable.server.app import create_app
from teachable.workspace import Workspace

from photos import photo, random_view, write_views
from servers import ThreadServer
from test_browser import CHROMIUM, launch, new_page, playwright_instance, shot  # noqa: F401 (a fixture)
from test_teachable_machine import agree

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / ".node"
SCRIPTS = {
    "tf.min.js": NODE / "node_modules" / "tfjs131" / "dist" / "tf.min.js",
    "teachablemachine-image.min.js": NODE / "packs" / "teachablemachine-image-0.8.5" / "dist" / "teachablemachine-image.min.js",
    "ml5.min.js": NODE / "packs" / "ml5-1.3.1" / "dist" / "ml5.min.js",
}
pytestmark = pytest.mark.skipif(not (Path(CHROMIUM).exists() and all(p.exists() for p in SCRIPTS.values())),
                                reason="needs Debian's chromium and the browser packages (make node-deps)")

TM_PAGE = """<!doctype html><meta charset="utf-8"><title>tmImage</title>
<script src="tf.min.js"></script><script src="teachablemachine-image.min.js"></script>
<body>{images}<script>
(async () => {{
  try {{
    const URL = "{url}";
    const model = await tmImage.load(URL + "model.json", URL + "metadata.json");
    const out = [];
    for (const img of document.querySelectorAll("img")) {{
      const predictions = await model.predict(img);
      out.push(Object.fromEntries(predictions.map((p) => [p.className, p.probability])));
    }}
    window.results = out;
  }} catch (err) {{ window.failure = String(err); }}
}})();
</script></body>"""

ML5_PAGE = """<!doctype html><meta charset="utf-8"><title>ml5</title>
<script src="ml5.min.js"></script>
<body>{images}<script>
(async () => {{
  try {{
    // Outside p5's preload, ml5 1.x gives a promise of the classifier.
    const classifier = await ml5.imageClassifier("{url}");
    const out = [];
    for (const img of document.querySelectorAll("img")) {{
      const results = await classifier.classify(img);
      out.push(Object.fromEntries(results.map((r) => [r.label, r.confidence])));
    }}
    window.results = out;
  }} catch (err) {{ window.failure = String(err); }}
}})();
</script></body>"""


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """`teachable serve`'s app with a published image project, and a static site on another port."""
    workspace = Workspace(tmp_path_factory.mktemp("ws"))
    model = teachable.train(Dataset.from_folder(write_views(tmp_path_factory.mktemp("d"), 6, 61)), classifier="head", epochs=30)
    project = workspace.create("Photos")
    project.store_model(model, {"classifier": "head"})
    key = project.publish(True)
    project.close()
    site = tmp_path_factory.mktemp("site")
    for name, source in SCRIPTS.items():
        shutil.copy(source, site / name)
    rng = np.random.default_rng(62)
    names = []
    for i, label in enumerate(("cat", "rocket", "astronaut")):
        square = random_view(photo(label), rng).resize((224, 224))
        square.save(site / f"photo{i}.png")
        names.append(f"photo{i}.png")
    static = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=static.serve_forever, daemon=True).start()
    with ThreadServer(create_app(workspace)) as base:
        yield {"url": f"{base}/tm/{key}/", "site": site, "images": names, "model": model,
               "origin": f"http://localhost:{static.server_address[1]}"}
    static.shutdown()


def expected(published) -> np.ndarray:
    model = published["model"]
    return np.array([[model.predict(pixels(published["site"] / n)).confidences[label] for label in model.labels]
                     for n in published["images"]])


@pytest.mark.parametrize("library", ["tmImage", "ml5"])
def test_a_page_on_another_origin_loads_the_published_model(library, published, playwright_instance, tmp_path):
    page_text = (TM_PAGE if library == "tmImage" else ML5_PAGE).format(
        url=published["url"], images="".join(f'<img src="{n}" width="224" height="224">' for n in published["images"]))
    (published["site"] / f"{library}.html").write_text(page_text)
    video = tmp_path / "none.y4m"
    video.write_bytes(b"")
    browser = launch(playwright_instance, video)
    errors: list[str] = []
    requests: list[str] = []
    try:
        page = new_page(browser, errors)
        page.on("request", lambda r: requests.append(r.url))
        # the page's origin (localhost:other port) differs from the model's (127.0.0.1:port)
        page.goto(f"{published['origin']}/{library}.html")
        page.wait_for_function("() => window.results || window.failure", timeout=180_000)
        failure = page.evaluate("window.failure")
        assert failure is None, failure
        results = page.evaluate("window.results")
        shot(page, f"tm-{library}")
    finally:
        browser.close()
    labels = published["model"].labels
    got = np.array([[r[label] for label in labels] for r in results])
    agree(got, expected(published))
    assert all(u.startswith(("http://127.0.0.1", "http://localhost", "data:", "blob:")) for u in requests), requests
    assert not errors, errors


def test_the_app_opens_a_tm_file_and_shows_the_published_url(published, playwright_instance, tmp_path):
    from test_teachable_machine import make_tm, views

    source = make_tm(tmp_path / "Gestures.tm", {"Daumen hoch 👍": views(3, 70, ["astronaut"]), "nothing": views(3, 71, ["coffee"])})
    base = published["url"].split("/tm/")[0]
    video = tmp_path / "none.y4m"
    video.write_bytes(b"")
    browser = launch(playwright_instance, video)
    errors: list[str] = []
    try:
        page = new_page(browser, errors, viewport={"width": 1280, "height": 900})
        page.goto(base + "/")
        page.locator("#tm-file").set_input_files(str(source))
        page.wait_for_url("**/#/p/gestures", timeout=60_000)
        page.get_by_text("Daumen hoch 👍").first.wait_for()
        page.goto(base + "/#/p/photos")
        link = page.locator("#published-link")
        link.wait_for(state="attached", timeout=30_000)
        assert link.text_content() == published["url"]
        assert page.locator("#publish-switch").is_checked()
        page.get_by_role("button", name="Export model").click()
        assert page.locator("#download-tfjs").is_visible() and link.is_visible()
        shot(page, "tm-published")
    finally:
        browser.close()
    assert not errors, errors


def panel_snippet(published, playwright_instance, tmp_path, title: str) -> str:
    """The text of the export panel's snippet called ``title``, as the page shows it."""
    base = published["url"].split("/tm/")[0]
    video = tmp_path / "none.y4m"
    video.write_bytes(b"")
    browser = launch(playwright_instance, video)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/#/p/photos")
        page.locator("#published-link").wait_for(state="attached", timeout=30_000)
        page.get_by_role("button", name="Export model").click()
        return page.locator(".snippet-block").filter(has_text=title).locator("pre").inner_text()
    finally:
        browser.close()


@pytest.mark.skipif(not (NODE / "node_modules" / "tfjs4").exists() or not shutil.which("node"),
                    reason="needs Node.js and @tensorflow/tfjs 4 (make test installs them)")
def test_the_node_snippet_runs_as_pasted(published, playwright_instance, tmp_path):
    """Issue 25, item 8: the Node.js snippet mixed require() with top-level await and failed on Node 20.
    Copied from the page as it shows it, saved as predict.mjs beside @tensorflow/tfjs, it runs."""
    import subprocess

    code = panel_snippet(published, playwright_instance, tmp_path, "Node.js 18+")
    assert "require(" not in code and published["url"] in code
    (tmp_path / "node_modules" / "@tensorflow").mkdir(parents=True)
    (tmp_path / "node_modules" / "@tensorflow" / "tfjs").symlink_to(NODE / "node_modules" / "tfjs4", target_is_directory=True)
    (tmp_path / "predict.mjs").write_text(code)
    result = subprocess.run(["node", "predict.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    # Node prints the object as { cat: 0.2, rocket: 0.7, astronaut: 0.1 }
    shares = dict(part.split(":") for part in result.stdout.strip().strip("{}").replace(" ", "").replace("\n", "").split(","))
    assert set(shares) == set(published["model"].labels) and abs(sum(map(float, shares.values())) - 1) < 1e-4, result.stdout


def test_the_web_page_snippet_runs_as_pasted(published, playwright_instance, tmp_path):
    """Issue 25, item 8, for the browser: Teachable Machine's own tmImage snippet as the export panel
    shows it, pasted into a page on another site (its two CDN scripts served from the test's copies of
    the very same files: no network here), logs the published model's classes for the photo."""
    code = panel_snippet(published, playwright_instance, tmp_path, "A web page (Teachable Machine")
    assert published["url"] in code
    browser = launch(playwright_instance, tmp_path / "none.y4m")
    try:
        local = code.replace("https://cdn.jsdelivr.net/npm/@tensorflow/tfjs@1.3.1/dist/tf.min.js", "tf.min.js").replace(
            "https://cdn.jsdelivr.net/npm/@teachablemachine/image@0.8.5/dist/teachablemachine-image.min.js",
            "teachablemachine-image.min.js")
        assert "https://" not in local
        photo_name = published["images"][0]
        (published["site"] / "pasted.html").write_text(
            f'<!doctype html><meta charset="utf-8"><img src="{photo_name}" width="224" height="224">\n{local}')
        logged: list = []
        other = browser.new_page()
        other.on("console", lambda message: logged.append(message) if message.type == "log" else None)
        other.goto(f"{published['origin']}/pasted.html")
        for _ in range(120):
            if logged:
                break
            other.wait_for_timeout(500)
        assert logged, "the snippet logged nothing"
        results = logged[0].args[0].json_value()  # [{className, probability}, ...], as the snippet's comment says
    finally:
        browser.close()
    expected = published["model"].predict(pixels(published["site"] / photo_name))
    assert max(results, key=lambda r: r["probability"])["className"] == expected.label


P5 = NODE / "packs" / "p5-1.11.3" / "lib" / "p5.min.js"


@pytest.mark.skipif(not P5.exists(), reason="needs p5.js (make node-deps packs it)")
def test_the_p5_sketch_snippet_runs_as_pasted(published, playwright_instance, tmp_path):
    """Issue 25, item 8: the p5.js + ml5.js snippet as the export panel shows it, in a page on another
    site with p5.js and ml5.js beside it, reads the (fake) webcam and logs the published model's label."""
    import shutil as copying

    from media import write_y4m

    code = panel_snippet(published, playwright_instance, tmp_path, "p5.js + ml5.js")
    assert published["url"] in code
    copying.copy(P5, published["site"] / "p5.min.js")
    (published["site"] / "sketch.html").write_text(
        '<!doctype html><meta charset="utf-8"><script src="p5.min.js"></script><script src="ml5.min.js"></script>'
        f"<script>\n{code}\n</script>")
    rng = np.random.default_rng(63)
    video = write_y4m(tmp_path / "cat.y4m", [random_view(photo("cat"), rng).resize((480, 480)) for _ in range(3)], repeat=10)
    browser = launch(playwright_instance, video)
    logged: list[str] = []
    try:
        page = browser.new_page()
        page.on("console", lambda message: logged.append(message.text) if message.type == "log" else None)
        page.goto(f"{published['origin']}/sketch.html")
        for _ in range(120):
            if any(line in published["model"].labels for line in logged):
                break
            page.wait_for_timeout(500)
    finally:
        browser.close()
    labels = [line for line in logged if line in published["model"].labels]
    assert labels and labels[-1] == "cat", logged[-10:]
