"""Sound models outside Teachable: the ONNX bundle reproduces the pipeline, and `listen` finds
words in a longer recording with their times."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import soundfile as sf

import teachable
from teachable.embed.audio import get_sound_backbone, load_audio
from teachable.export.bundle import write_bundle
from bundles import CHROMIUM, NODE_MODULES, add_onnxruntime_web, fresh_venv, npm_install
from servers import FolderServer
from sounds import ESPEAK, HELD_OUT_VOICES, TRAIN_VOICES, noise, speak, write_sound_dataset

pytestmark = pytest.mark.skipif(ESPEAK is None, reason="needs espeak-ng")


def at_16k(clip: Path) -> Path:
    """The same clip recorded at 16 kHz (espeak-ng speaks at 22.05 kHz), 16-bit PCM."""
    import soxr

    audio, rate = sf.read(clip, dtype="float32")
    path = clip.with_name(f"{clip.stem}-16k.wav")
    sf.write(path, soxr.resample(audio, rate, 16000), 16000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module", params=["head", "knn"])
def model(request, tmp_path_factory):
    data = write_sound_dataset(tmp_path_factory.mktemp("snd"), TRAIN_VOICES, seed=5)
    return teachable.train(teachable.Dataset.from_folder(data), classifier=request.param, validation_split=0)


@pytest.fixture(scope="module")
def bundle_python(model, tmp_path_factory) -> Path:
    """Python in a fresh virtualenv holding what the sound bundle's README says to pip install."""
    root = tmp_path_factory.mktemp("venv")
    return fresh_venv(write_bundle(model, root / "bundle"), root / "env")


def test_bundle_reproduces_the_pipeline(model, bundle_python, tmp_path):
    folder = write_bundle(model, tmp_path / "bundle")
    notice = (folder / "NOTICE.md").read_text()  # Google's front end travels with its licence
    assert "speech_embedding" in notice and "YAMNet" in notice and "Apache License" in notice
    assert {"model.onnx", "melspectrogram.onnx", "embedding_model.onnx", "yamnet_embedding.onnx", "yamnet_features.py",
            "predict.py", "metadata.json"} <= {p.name for p in folder.iterdir()}
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["kind"] == "sound" and meta["input"]["sample_rate"] == 16000 and meta["input"]["shape"] == ["batch", 96 + 1024]
    clips = [speak(tmp_path / f"{w}.wav", w, HELD_OUT_VOICES[0], 50, 170) for w in ("yes", "stop", "banana")]
    # the classifier graph on Teachable's embeddings gives Teachable's probabilities
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    embeddings = get_sound_backbone().embed(clips)
    probabilities, labels = session.run(None, {"embedding": embeddings})
    expected = model.predict_embeddings(embeddings)
    assert [model.labels[i] for i in labels] == [p.label for p in expected] == ["yes", "stop", "banana"]
    reference = np.array([[p.confidences[n] for n in model.labels] for p in expected])
    assert np.abs(probabilities - reference).max() <= 1e-4
    # and the example script, with its own front end, prints the same classes
    out = subprocess.run([str(bundle_python), str(folder / "predict.py"), *map(str, clips)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert [line.split(": ")[1].split()[0] for line in out.stdout.strip().splitlines()] == ["yes", "stop", "banana"]


def test_predict_mjs_under_node_matches_teachable(model, tmp_path):
    folder = write_bundle(model, tmp_path / "bundle")
    npm_install(folder)  # as README.md says
    clips = [speak(tmp_path / f"{w}.wav", w, HELD_OUT_VOICES[1], 40, 160) for w in ("yes", "stop", "banana")]
    sixteen = [at_16k(clip) for clip in clips]
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEjunk")
    files = [*sixteen, broken, *clips]
    out = subprocess.run(["node", str(folder / "predict.mjs"), "--json", *map(str, files)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr  # the broken file is named, the others classified
    rows = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert [row["file"] for row in rows] == [str(f) for f in files] and "error" in rows[3]
    for row, clip in zip(rows[:3] + rows[4:], sixteen + clips):
        expected = model.predict(clip)
        assert row["label"] == expected.label
        difference = max(abs(row["confidences"][k] - v) for k, v in expected.confidences.items())
        # 16 kHz files are read exactly as Teachable reads them; other rates are resampled differently
        assert difference <= (1e-4 if clip in sixteen else 1e-2), (clip.name, difference)


@pytest.mark.browser
@pytest.mark.skipif(not (Path(CHROMIUM).exists() and (NODE_MODULES / "onnxruntime-web").exists()),
                    reason="needs Debian's chromium and `make node-deps`")
def test_index_html_hears_the_microphone_and_reads_a_chosen_file(model, tmp_path):
    """The bundle's web page, offline with onnxruntime-web beside it: a fake microphone saying
    "banana" over and over is named; a chosen 16 kHz recording gets Teachable's answer."""
    from playwright.sync_api import sync_playwright

    folder = write_bundle(model, tmp_path / "bundle")
    add_onnxruntime_web(folder)
    microphone = at_16k(speak(tmp_path / "banana.wav", "banana", HELD_OUT_VOICES[0], 50, 150))
    chosen = at_16k(speak(tmp_path / "stop.wav", "stop", HELD_OUT_VOICES[1], 40, 160))
    expected = model.predict(chosen)
    with FolderServer(folder) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}", "--disable-background-networking"])
        page = browser.new_page()
        page.route("https://**/*", lambda route: route.abort())  # offline
        page.goto(f"{base}/index.html")
        page.wait_for_function("() => document.getElementById('label').textContent === 'banana'", timeout=60_000)
        page.set_input_files("#file", str(chosen))
        page.wait_for_function(f"() => document.getElementById('label').textContent === {json.dumps(expected.label)}",
                               timeout=60_000)
        shown = {row.locator("span").first.inner_text(): row.locator("span").last.inner_text()
                 for row in page.locator(".bar").all()}
        assert shown == {name: f"{round(p * 100)}%" for name, p in expected.confidences.items()}
        shots = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"export-sound-index-html-{model.classifier.kind}.png"))
        browser.close()


def test_listen_finds_words_with_their_times(model, bundle_python, tmp_path):
    rng = np.random.default_rng(4)
    parts, expected = [noise(1.5, rng, 0.01)], []
    for word in ("banana", "stop"):
        clip = load_audio(speak(tmp_path / f"l-{word}.wav", word, HELD_OUT_VOICES[1], 50, 160))
        expected.append((word, sum(len(p) for p in parts) / 16000))
        parts += [clip, noise(2.0, rng, 0.01)]
    recording = tmp_path / "recording.wav"
    sf.write(recording, np.concatenate(parts), 16000)
    out = subprocess.run([sys.executable, "-m", "teachable.cli", "listen", str(model.save(tmp_path / "m.teachable")),
                          str(recording), "--json", "--threshold", "0.5"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    heard = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert [h["label"] for h in heard] == ["banana", "stop"], heard
    for h, (word, at) in zip(heard, expected):
        assert abs(h["time"] - at) <= 1.0, (h, at)
    # the exported bundle's predict.py --listen merges overlapping windows the same way
    folder = write_bundle(model, tmp_path / "bundle")
    bundled = subprocess.run([str(bundle_python), str(folder / "predict.py"), str(recording), "--listen", "--threshold", "0.5"],
                             capture_output=True, text=True, timeout=120)
    assert bundled.returncode == 0, bundled.stderr
    lines = [line.split() for line in bundled.stdout.strip().splitlines()]
    assert [line[2] for line in lines] == [h["label"] for h in heard]
    assert all(abs(float(line[1].rstrip("s")) - h["time"]) < 0.01 for line, h in zip(lines, heard))


def test_listen_refuses_image_models(fewshot_train, tmp_path):
    image_model = teachable.train(teachable.Dataset.from_folder(fewshot_train), classifier="knn")
    path = image_model.save(tmp_path / "img.teachable")
    out = subprocess.run([sys.executable, "-m", "teachable.cli", "listen", str(path), str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "sound model" in out.stderr


def everyday_recording(tmp_path: Path, rng: np.random.Generator, kind: str) -> Path:
    """A 16 kHz file that is not speech: a whistle gliding in pitch, or knocks."""
    t = np.arange(16000) / 16000
    if kind == "whistle":
        pitch = rng.uniform(900, 1800) * (1 + 0.2 * t)
        audio = 0.3 * np.sin(2 * np.pi * np.cumsum(pitch) / 16000)
    else:
        audio = noise(1.0, rng, 0.005)
        for start in rng.integers(500, 14000, 4):
            audio[start:start + 800] += (0.6 * np.sin(2 * np.pi * 180 * t[:800]) * np.exp(-np.arange(800) / 120)).astype(np.float32)
    path = tmp_path / f"{kind}-{rng.integers(1 << 30)}.wav"
    sf.write(path, audio.astype(np.float32), 16000, subtype="PCM_16")
    return path


def test_the_bundles_yamnet_front_end_computes_teachables_numbers(model, bundle_python, tmp_path):
    """YAMNet's half of the embedding, recomputed outside Teachable: by predict.py's NumPy front end
    and by sound_recipe.mjs in Node (float64 FFT and mel matrix of its own), within 1e-4 of
    Teachable's, on speech, whistles, knocks and silence."""
    if model.classifier.kind != "head":
        pytest.skip("the front end does not depend on the classifier: checked once, with the head's bundle")
    folder = write_bundle(model, tmp_path / "bundle")
    rng = np.random.default_rng(9)
    files = [at_16k(speak(tmp_path / "yes.wav", "yes", HELD_OUT_VOICES[0], 50, 160)),
             everyday_recording(tmp_path, rng, "whistle"), everyday_recording(tmp_path, rng, "knock")]
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(16000, np.float32), 16000, subtype="PCM_16")
    files.append(silence)
    expected = get_sound_backbone().embed(files)[:, 96:]
    python = subprocess.run([str(bundle_python), "-c", (
        "import json, sys; sys.argv = ['predict.py', 'x']; sys.path.insert(0, '.');"
        "import predict; print(json.dumps([predict.embed(predict.load(f))[96:].tolist() for f in %r]))" % [str(f) for f in files])],
        cwd=folder, capture_output=True, text=True, timeout=120)
    assert python.returncode == 0, python.stderr
    assert np.abs(np.array(json.loads(python.stdout)) - expected).max() <= 1e-4
    npm_install(folder)
    script = folder / "embed.mjs"
    script.write_text(
        'import { readFileSync } from "node:fs";\n'
        'import * as ort from "onnxruntime-node";\n'
        'import { embed, loadModels } from "./sound_recipe.mjs";\n'
        'const meta = JSON.parse(readFileSync("metadata.json", "utf8"));\n'
        'const models = await loadModels(ort, ".", {}, meta.input);\n'
        'const out = [];\n'
        'for (const file of process.argv.slice(2)) {\n'
        '  const bytes = readFileSync(file); const pcm = new Int16Array(bytes.buffer, bytes.byteOffset + 44, (bytes.length - 44) / 2);\n'
        '  out.push(Array.from(await embed(ort, models, meta.input, Float32Array.from(pcm, (v) => v / 32768))).slice(96));\n'
        '}\n'
        'console.log(JSON.stringify(out));\n')
    node = subprocess.run(["node", str(script), *map(str, files)], cwd=folder, capture_output=True, text=True, timeout=300)
    assert node.returncode == 0, node.stderr
    assert np.abs(np.array(json.loads(node.stdout)) - expected).max() <= 1e-4
    # ... and in Chromium, with onnxruntime-web, as the bundle's index.html runs it
    if not (Path(CHROMIUM).exists() and (NODE_MODULES / "onnxruntime-web").exists()):
        return
    from playwright.sync_api import sync_playwright

    add_onnxruntime_web(folder)
    for i, f in enumerate(files):
        (folder / f"clip{i}.wav").write_bytes(f.read_bytes())
    with FolderServer(folder) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-background-networking"])
        try:
            page = browser.new_page()
            page.route("https://**/*", lambda route: route.abort())  # offline
            page.goto(f"{base}/index.html")
            web = page.evaluate("""async (count) => {
              const { loadOrt } = await import("./ort_web.mjs");
              const { embed, loadModels } = await import("./sound_recipe.mjs");
              const ort = await loadOrt();
              const meta = await (await fetch("metadata.json")).json();
              const models = await loadModels(ort, ".", {}, meta.input);
              const out = [];
              for (let i = 0; i < count; i++) {
                const bytes = await (await fetch(`clip${i}.wav`)).arrayBuffer();
                const pcm = new Int16Array(bytes, 44, (bytes.byteLength - 44) / 2);
                out.push(Array.from(await embed(ort, models, meta.input, Float32Array.from(pcm, (v) => v / 32768))).slice(96));
              }
              return out;
            }""", len(files))
        finally:
            browser.close()
    assert np.abs(np.array(web) - expected).max() <= 1e-4
