"""Sound models outside Teachable: the ONNX bundle reproduces the pipeline, and `listen` finds
words in a longer recording with their times."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import soundfile as sf

import teachable
from teachable.embed.audio import get_sound_backbone, load_audio
from teachable.export.bundle import write_bundle
from bundles import npm_install
from sounds import ESPEAK, HELD_OUT_VOICES, TRAIN_VOICES, noise, speak, write_sound_dataset

pytestmark = pytest.mark.skipif(ESPEAK is None, reason="needs espeak-ng")


@pytest.fixture(scope="module", params=["head", "knn"])
def model(request, tmp_path_factory):
    data = write_sound_dataset(tmp_path_factory.mktemp("snd"), TRAIN_VOICES, seed=5)
    return teachable.train(teachable.Dataset.from_folder(data), classifier=request.param, validation_split=0)


def test_bundle_reproduces_the_pipeline(model, tmp_path):
    folder = write_bundle(model, tmp_path / "bundle")
    notice = (folder / "NOTICE.md").read_text()  # Google's front end travels with its licence
    assert "speech_embedding" in notice and "Apache License" in notice
    assert {"model.onnx", "melspectrogram.onnx", "embedding_model.onnx", "predict.py", "metadata.json"} <= {p.name for p in folder.iterdir()}
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["kind"] == "sound" and meta["input"]["sample_rate"] == 16000 and meta["input"]["shape"] == ["batch", 96]
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
    out = subprocess.run([sys.executable, str(folder / "predict.py"), *map(str, clips)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert [line.split(": ")[1].split()[0] for line in out.stdout.strip().splitlines()] == ["yes", "stop", "banana"]


def test_predict_mjs_under_node_matches_teachable(model, tmp_path):
    import soxr

    folder = write_bundle(model, tmp_path / "bundle")
    npm_install(folder)  # as README.md says
    clips = [speak(tmp_path / f"{w}.wav", w, HELD_OUT_VOICES[1], 40, 160) for w in ("yes", "stop", "banana")]
    at_16k = []
    for clip in clips:  # espeak-ng speaks at 22.05 kHz; the same clips recorded at 16 kHz
        audio, rate = sf.read(clip, dtype="float32")
        at_16k.append(tmp_path / f"{clip.stem}-16k.wav")
        sf.write(at_16k[-1], soxr.resample(audio, rate, 16000), 16000, subtype="PCM_16")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEjunk")
    files = [*at_16k, broken, *clips]
    out = subprocess.run(["node", str(folder / "predict.mjs"), "--json", *map(str, files)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr  # the broken file is named, the others classified
    rows = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert [row["file"] for row in rows] == [str(f) for f in files] and "error" in rows[3]
    for row, clip in zip(rows[:3] + rows[4:], at_16k + clips):
        expected = model.predict(clip)
        assert row["label"] == expected.label
        difference = max(abs(row["confidences"][k] - v) for k, v in expected.confidences.items())
        # 16 kHz files are read exactly as Teachable reads them; other rates are resampled differently
        assert difference <= (1e-4 if clip in at_16k else 1e-2), (clip.name, difference)


def test_listen_finds_words_with_their_times(model, tmp_path):
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
    bundled = subprocess.run([sys.executable, str(folder / "predict.py"), str(recording), "--listen", "--threshold", "0.5"],
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
