"""Exports on real photos: the ONNX pipeline agrees with Model.predict, and every generated
example runs: predict.py in Python, predict.mjs in Node.js, index.html in Chromium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import teachable
from teachable.embed.preprocess import prepare
from teachable.errors import TeachableError
from teachable.export.bundle import write_bundle
from teachable.export.onnx_model import export_onnx
from bundles import CHROMIUM, NODE_MODULES, add_onnxruntime_web, fresh_venv, npm_install
from media import write_y4m
from servers import FolderServer
from photos import photo, random_view, write_formats



@pytest.fixture(scope="module", params=["head", "knn"])
def model(request, fewshot_train):
    return teachable.train(teachable.Dataset.from_folder(fewshot_train), classifier=request.param, epochs=30, k=3)


@pytest.fixture(scope="module")
def held_out(fewshot_test):
    images = sorted(fewshot_test.rglob("*.jpg"))
    return images, np.stack([prepare(p) for p in images])


def test_onnx_pipeline_matches_model_predict(model, held_out):
    images, tensors = held_out
    proto = onnx.load_from_string(export_onnx(model))
    assert proto.opset_import[0].version >= 17
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"  # dynamic batch
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["labels"]) == model.labels and json.loads(meta["preprocessing"])["mean"] == 127.0
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    probabilities, labels = session.run(None, {"image": tensors})
    expected = model.predict_batch(images)
    assert [model.labels[i] for i in labels] == [p.label for p in expected]
    reference = np.array([[p.confidences[name] for name in model.labels] for p in expected])
    if model.classifier.kind == "head":
        assert np.abs(probabilities - reference).max() <= 1e-4
    else:  # vote shares: exactly the same fractions
        np.testing.assert_allclose(probabilities, reference, atol=1e-6)


def test_bundle_contents(model, tmp_path):
    folder = write_bundle(model, tmp_path / "bundle")
    names = {p.name for p in folder.iterdir()}
    assert {"model.onnx", "metadata.json", "labels.txt", "predict.py", "predict.mjs", "index.html", "README.md"} <= names
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["labels"] == model.labels and meta["input"]["shape"] == ["batch", 3, 224, 224]
    assert meta["classifier"]["type"] == model.classifier.kind and meta["versions"]["onnx_opset"] == 17
    assert (folder / "labels.txt").read_text().split() == model.labels
    archive = write_bundle(model, tmp_path / "bundle.zip")
    with zipfile.ZipFile(archive) as z:
        assert set(z.namelist()) == names
    with pytest.raises(TeachableError, match="not empty"):
        write_bundle(model, folder)


@pytest.fixture(scope="module")
def bundle_python(tmp_path_factory, fewshot_train) -> Path:
    """Python in a fresh virtualenv holding what the bundle's README says to pip install."""
    model = teachable.train(teachable.Dataset.from_folder(fewshot_train), classifier="head")
    return fresh_venv(write_bundle(model, tmp_path_factory.mktemp("venv") / "bundle"), tmp_path_factory.mktemp("venv") / "env")


def test_predict_py_prints_the_right_class(model, bundle_python, tmp_path):
    folder = write_bundle(model, tmp_path / "bundle")
    rng = np.random.default_rng(21)
    photos = {}
    for name in ("cat", "rocket"):
        photos[name] = tmp_path / f"{name}.jpg"
        random_view(photo(name), rng).save(photos[name])
    out = subprocess.run([str(bundle_python), str(folder / "predict.py"), *map(str, photos.values())],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    lines = out.strip().splitlines()
    assert lines[0].split(": ")[1].split()[0] == "cat" and lines[1].split(": ")[1].split()[0] == "rocket"
    for line, path in zip(lines, photos.values()):
        assert line.split(": ")[1].split()[0] == model.predict(path).label


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory, fewshot_train) -> Path:
    """A bundle's packages installed as its README says (`npm install`, the bundle's .npmrc applies)."""
    model = teachable.train(teachable.Dataset.from_folder(fewshot_train), classifier="knn")
    return npm_install(write_bundle(model, tmp_path_factory.mktemp("npm") / "bundle"))


def test_predict_mjs_reads_every_file_kind_as_teachable_does(model, node_modules, tmp_path):
    folder = write_bundle(model, tmp_path / "bundle")
    (folder / "node_modules").symlink_to(node_modules, target_is_directory=True)
    rng = np.random.default_rng(23)
    files = [path for name in ("cat", "rocket", "coffee")
             for path in write_formats(random_view(photo(name), rng), tmp_path / "photos", name).values()]
    broken = tmp_path / "photos" / "broken.jpg"
    broken.write_bytes(b"this is not a picture")
    order = files[:4] + [broken] + files[4:]
    out = subprocess.run(["node", str(folder / "predict.mjs"), "--json", *map(str, order)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr  # one file failed, every other one was classified
    rows = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert [row["file"] for row in rows] == [str(p) for p in order]
    assert "error" in rows[4] and "label" not in rows[4]
    for row, path in zip(rows[:4] + rows[5:], files):
        expected = model.predict(path)
        assert row["label"] == expected.label, path.name
        assert max(abs(row["confidences"][k] - v) for k, v in expected.confidences.items()) <= 1e-3, path.name


@pytest.mark.skipif(not (Path(CHROMIUM).exists() and (NODE_MODULES / "onnxruntime-web").exists()),
                    reason="needs Debian's chromium and `make node-deps`")
def test_index_html_classifies_the_webcam(model, tmp_path):
    from playwright.sync_api import sync_playwright

    folder = write_bundle(model, tmp_path / "bundle")
    add_onnxruntime_web(folder)
    video = write_y4m(tmp_path / "rocket.y4m", [random_view(photo("rocket"), np.random.default_rng(3)) for _ in range(4)], repeat=4)
    with FolderServer(folder) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}", "--disable-background-networking"])
        page = browser.new_page()
        # the page must not need the CDN when onnxruntime-web sits beside it
        page.route("https://**/*", lambda route: route.abort())
        page.goto(f"{base}/index.html")
        page.wait_for_function("() => document.getElementById('label').textContent === 'rocket'", timeout=60_000)
        shots = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"export-index-html-{model.classifier.kind}.png"))
        # A chosen picture replaces the webcam (one view at a time), and the webcam comes back on request.
        chosen = tmp_path / "cat.png"
        random_view(photo("cat"), np.random.default_rng(4)).save(chosen)
        page.set_input_files("#file", str(chosen))
        page.wait_for_function("() => document.getElementById('label').textContent === 'cat'", timeout=60_000)
        assert page.locator("#picture").is_visible() and not page.locator("#video").is_visible()
        page.screenshot(path=str(shots / f"export-index-html-chosen-{model.classifier.kind}.png"))
        page.get_by_role("button", name="Back to the webcam").click()
        page.wait_for_function("() => document.getElementById('label').textContent === 'rocket'", timeout=60_000)
        assert page.locator("#video").is_visible() and not page.locator("#picture").is_visible()
        browser.close()


@pytest.mark.skipif(not (NODE_MODULES / "onnxruntime-web").exists(), reason="needs the Node test packages (make test)")
def test_index_html_works_offline_without_a_camera_on_a_chosen_file(model, tmp_path):
    """No network and no camera: without ONNX Runtime Web beside it the page names the files to
    copy; with them, a chosen picture is classified."""
    from playwright.sync_api import sync_playwright

    folder = write_bundle(model, tmp_path / "bundle")
    photo("cat").save(tmp_path / "cat.png")

    with FolderServer(folder) as base, sync_playwright() as p:
        url = f"{base}/index.html"
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-background-networking"])
        page = browser.new_page()
        page.route("https://**/*", lambda route: route.abort())  # offline
        page.goto(url)
        page.wait_for_function("() => document.getElementById('label').textContent.startsWith('error')", timeout=60_000)
        message = page.locator("#label").inner_text()
        assert "ort.wasm.min.js" in message and "npm pack onnxruntime-web" in message
        add_onnxruntime_web(folder)
        page.goto(url)  # no fake camera: getUserMedia fails
        page.wait_for_function("() => document.getElementById('camera-note').textContent.includes('No camera')", timeout=60_000)
        page.set_input_files("#file", str(tmp_path / "cat.png"))
        page.wait_for_function("() => document.getElementById('label').textContent === 'cat'", timeout=60_000)
        shots = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
        page.screenshot(path=str(shots / f"export-index-html-file-{model.classifier.kind}.png"))
        browser.close()


def test_bundle_says_whose_work_it_holds_when_it_was_made_and_is_shareable(model, tmp_path):
    folder = write_bundle(model, tmp_path / "bundle")
    notice = (folder / "NOTICE.md").read_text()
    assert "EfficientNet-Lite0" in notice and "ML Illustrated" in notice and "Apache License" in notice
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["created"] and meta["exported"] and meta["exported"] >= meta["created"][:19]
    assert "ignore-scripts=true" in (folder / ".npmrc").read_text()  # `npm install` needs only the registry
    umask = os.umask(0o022)
    os.umask(umask)
    assert folder.stat().st_mode & 0o777 == 0o777 & ~umask  # not the private 0700 of a temporary folder
    archive = write_bundle(model, tmp_path / "bundle.zip")
    assert archive.stat().st_mode & 0o777 == 0o666 & ~umask


def test_predict_py_json_names_a_bad_file_and_goes_on(model, tmp_path):
    folder = write_bundle(model, tmp_path / "bundle")
    good = tmp_path / "rocket.jpg"
    random_view(photo("rocket"), np.random.default_rng(5)).save(good)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    result = subprocess.run([sys.executable, str(folder / "predict.py"), "--json", str(bad), str(good), str(tmp_path / "missing.jpg")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    first, second, third = (json.loads(line) for line in result.stdout.strip().splitlines())
    assert first["file"] == str(bad) and "error" in first and "error" in third
    assert second["label"] == model.predict(good).label and abs(sum(second["confidences"].values()) - 1) < 1e-5


@pytest.mark.parametrize("kind", ["image", "sound"])
def test_bundle_scripts_answer_help_and_no_arguments_with_their_usage(kind, fewshot_train, tmp_path):
    """Issue 25, item 12: `node predict.mjs --help` printed "--help: error: ENOENT"."""
    import shutil

    if kind == "image":
        folder = write_bundle(teachable.train(teachable.Dataset.from_folder(fewshot_train), classifier="knn"), tmp_path / "b")
    else:
        from sounds import write_sound_dataset

        data = write_sound_dataset(tmp_path / "words", ["en"], seed=1, noise_clips=4)
        folder = write_bundle(teachable.train(teachable.Dataset.from_folder(data), classifier="knn"), tmp_path / "b")
    node = shutil.which("node")
    for script in [s for s in folder.glob("predict*.py")] + ([folder / "predict.mjs"] if node else []):
        command = [node, str(script)] if script.suffix == ".mjs" else [sys.executable, str(script)]
        helped = subprocess.run(command + ["--help"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert helped.returncode == 0 and "usage:" in helped.stdout and "ENOENT" not in helped.stdout + helped.stderr, script
        bare = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert bare.returncode == 2 and "usage:" in bare.stderr, script


@pytest.mark.parametrize("kind", ["image", "sound"])
def test_index_html_opened_as_a_file_says_how_to_open_it(kind, fewshot_train, tmp_path):
    """Issue 25, item 10: from file:// the page said "loading…" for ever (the reason only in the console)."""
    from playwright.sync_api import sync_playwright

    if kind == "image":
        data = fewshot_train
    else:
        from sounds import write_sound_dataset

        data = write_sound_dataset(tmp_path / "words", ["en"], seed=2, noise_clips=4)
    folder = write_bundle(teachable.train(teachable.Dataset.from_folder(data), classifier="knn"), tmp_path / "bundle")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-background-networking"])
        page = browser.new_page()
        page.goto((folder / "index.html").as_uri())
        assert "python -m http.server" in page.locator("#label").inner_text()
        browser.close()


def test_index_html_agrees_with_teachable_to_a_thousandth(model, tmp_path):
    """Issue 25, item 11: the page resized with the browser's canvas and differed by up to 4.5 points
    from Python and Node; it now applies Pillow's resize as predict.mjs does (image_recipe.mjs)."""
    from playwright.sync_api import sync_playwright

    folder = write_bundle(model, tmp_path / "bundle")
    add_onnxruntime_web(folder)
    rng = np.random.default_rng(8)
    files = []
    for i, name in enumerate(("cat", "rocket", "astronaut", "coffee")):
        view = photo(name).resize((333 + 40 * i, 251 + 17 * i))  # odd, non-square sizes: the resize matters
        path = tmp_path / (f"{name}.png" if i % 2 else f"{name}.jpg")
        view.save(path, quality=88) if path.suffix == ".jpg" else view.save(path)
        files.append(path)
    random_view(photo("cat"), rng).save(tmp_path / "view.jpg", quality=90)
    files.append(tmp_path / "view.jpg")
    with FolderServer(folder) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-background-networking"])
        page = browser.new_page()
        page.goto(f"{base}/index.html")
        page.wait_for_function("() => document.getElementById('camera-note').textContent.includes('No camera')", timeout=60_000)
        for path in files:
            page.evaluate("() => { window.lastProbabilities = null; }")
            page.set_input_files("#file", str(path))
            page.wait_for_function("() => window.lastProbabilities !== null", timeout=60_000)
            got = np.array(page.evaluate("() => window.lastProbabilities"))
            expected = np.array([model.predict(path).confidences[label] for label in model.labels])
            assert np.abs(got - expected).max() <= 1e-3, (path.name, got, expected)
        browser.close()


@pytest.mark.parametrize("template", ["README.md", "README-sound.md", "README-pose.md"])
def test_the_readmes_offline_steps_leave_only_the_three_files(template, tmp_path):
    """The README's commands for onnxruntime-web, run on a package laid out as `npm pack` makes it:
    the three files land beside index.html and nothing else is left behind (no package/ folder)."""
    import re
    import subprocess
    import tarfile
    from importlib import resources

    text = resources.files("teachable.export").joinpath("templates", template).read_text()
    block = re.search(r"npm pack onnxruntime-web@1\.30\.0\n(tar xzf [^\n]*\\\n[^\n]*)", text).group(1)
    package = tmp_path / "package" / "dist"
    package.mkdir(parents=True)
    for name in ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm", "ort.all.js"):
        (package / name).write_text(name)
    (tmp_path / "package" / "package.json").write_text("{}")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    with tarfile.open(bundle / "onnxruntime-web-1.30.0.tgz", "w:gz") as archive:
        archive.add(tmp_path / "package", arcname="package")
    run = subprocess.run(["sh", "-c", block], cwd=bundle, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in bundle.iterdir()) == ["ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm",
                                                        "ort.wasm.min.js"]
