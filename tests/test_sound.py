"""Sound projects on real speech (espeak-ng voices), room noise and claps; voices held out."""

from __future__ import annotations

import io
from pathlib import Path
import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import teachable
from teachable import Project
from teachable.embed import SOUND_BACKBONE, SOUND_BACKBONE_V1
from teachable.embed.audio import CLIP_SAMPLES, fit_clip, get_sound_backbone, load_audio, split_clips
from teachable.embed.yamnet import Yamnet
from teachable.errors import InvalidAudioError, NotEnoughClassesError
from teachable.training import fit
from sounds import ESPEAK, HELD_OUT_VOICES, TRAIN_VOICES, noise, write_sound_dataset

pytestmark = pytest.mark.skipif(ESPEAK is None, reason="needs espeak-ng (make test installs it)")


@pytest.fixture(scope="module")
def sound_train(tmp_path_factory):
    return write_sound_dataset(tmp_path_factory.mktemp("sound-train"), TRAIN_VOICES, seed=1, claps=8)


@pytest.fixture(scope="module")
def sound_test(tmp_path_factory):
    return write_sound_dataset(tmp_path_factory.mktemp("sound-test"), HELD_OUT_VOICES, seed=2, noise_clips=6, claps=4)


def test_decoding_and_resampling(tmp_path):
    rng = np.random.default_rng(0)
    tone = np.sin(2 * np.pi * 440 * np.arange(44_100) / 44_100).astype(np.float32) * 0.5
    for fmt, name in (("WAV", "a.wav"), ("FLAC", "a.flac"), ("OGG", "a.ogg"), ("MP3", "a.mp3")):
        sf.write(tmp_path / name, np.stack([tone, tone], axis=1), 44_100, format=fmt)
        audio = load_audio(tmp_path / name)
        assert abs(len(audio) - 16_000) < 1200, (fmt, len(audio))  # 1 s at 16 kHz, mono
        spectrum = np.abs(np.fft.rfft(audio[:16_000]))
        assert abs(int(np.argmax(spectrum)) - 440) <= 3  # still a 440 Hz tone
    long = noise(3.6, rng, 0.1)
    clips = split_clips(long)
    assert len(clips) == 4 and all(len(c) == CLIP_SAMPLES for c in clips)
    assert len(split_clips(long, overlap=0.5)) == 7


@pytest.mark.parametrize("payload,message", [
    (b"", "empty"), (b"RIFF....WAVEfmt not really", "not a sound file"), (b"\x00" * 5000, "not a sound file")])
def test_bad_audio_is_refused(payload, message):
    with pytest.raises(InvalidAudioError, match=message):
        load_audio(payload)


def test_embeddings_are_both_backbones_and_deterministic(sound_train):
    backbone = get_sound_backbone()
    path = next((sound_train / "yes").glob("*.wav"))
    a, b = backbone.embed_one(path), backbone.embed_one(path.read_bytes())
    assert a.shape == (96 + 1024,) and np.array_equal(a, b)
    # The first block is speech_embedding's, as models made before YAMNet joined compute it (here
    # by one graph with the window model run once over the whole spectrogram: sound_graph.py).
    old = get_sound_backbone(backbone_id=SOUND_BACKBONE_V1).embed_one(path)
    assert old.shape == (96,) and np.abs(a[:96] - old).max() <= 1e-4 * np.abs(old).max()
    assert np.abs(a[96:] - Yamnet().run(fit_clip(load_audio(path)))[1]).max() <= 1e-4


def test_yamnet_hears_speech_as_speech_and_a_clap_as_something_else(sound_train):
    """The sanity check of the general-audio network: AudioSet's top class of a spoken word is
    Speech; of a clap it is not."""
    yamnet = Yamnet()
    word = fit_clip(load_audio(next((sound_train / "banana").glob("*.wav"))))
    clap = fit_clip(load_audio(next((sound_train / "clap").glob("*.wav"))))
    assert yamnet.top_classes(word, 1) == ["Speech"]
    assert "Speech" not in yamnet.top_classes(clap, 2)


@pytest.mark.parametrize("classifier", ["knn", "head"])
def test_held_out_voices(sound_train, sound_test, classifier):
    model = teachable.train(teachable.Dataset.from_folder(sound_train), classifier=classifier, validation_split=0)
    assert model.kind == "sound" and model.classifier.center is not None
    report = model.evaluate(teachable.Dataset.from_folder(sound_test))
    assert report.accuracy >= 0.9, report.format()


def test_sound_project_end_to_end(tmp_path, sound_train, sound_test):
    with Project.create(tmp_path / "s.teachable-project", kind="sound") as project:
        result = project.import_dataset(sound_train)
        assert result.added == 3 * len(TRAIN_VOICES) * 2 + 20 + 8 and not result.skipped
        names = {c.name for c in project.classes()}
        assert names == {"yes", "stop", "banana", "Background Noise", "clap"}
        sample = project.samples()[0]
        assert sample.media_type == "audio/wav" and 100 < sample.duration_ms <= 1500
        model = project.train(classifier="head", seed=1)
        report = model.evaluate(teachable.Dataset.from_folder(sound_test))
        assert report.accuracy >= 0.9, report.format()
        path = model.save(tmp_path / "s.teachable")
    loaded = teachable.load(path)
    assert loaded.predict(next((sound_test / "banana").glob("*.wav"))).label == "banana"


def test_long_recordings_become_one_second_samples(tmp_path):
    buffer = io.BytesIO()
    sf.write(buffer, noise(4.2, np.random.default_rng(3), 0.05), 16_000, format="WAV")
    with Project.create(tmp_path / "s.teachable-project", kind="sound") as project:
        ids = project.add_samples("Background Noise", [buffer.getvalue()], embed=False)
        assert len(ids) == 4
        assert all(project.sample(i).duration_ms == 1000 for i in ids)


def test_sound_projects_need_background_and_enough_samples(tmp_path, sound_train):
    with Project.create(tmp_path / "s.teachable-project", kind="sound") as project:
        project.add_class("yes")
        project.add_samples("yes", sorted((sound_train / "yes").glob("*.wav"))[:3], embed=False)
        with pytest.raises(NotEnoughClassesError, match="“Background Noise” has 0 samples and needs at least 20.*“yes” has 3"):
            project.train()
        with pytest.raises(InvalidAudioError):
            project.add_samples("yes", [b"definitely not audio"])


def test_schema_v1_project_files_are_migrated(tmp_path):
    path = tmp_path / "old.teachable-project"
    Project.create(path).close()
    conn = sqlite3.connect(path)  # back to version 1: neither duration_ms (2), trained_on (3) nor held_out (4)
    conn.execute("ALTER TABLE samples DROP COLUMN held_out")
    conn.execute("ALTER TABLE samples DROP COLUMN duration_ms")
    conn.execute("ALTER TABLE models DROP COLUMN trained_on")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Project.open(path) as project:
        project.add_class("a")
        assert project.samples() == [] and project.classes()[0].test_count == 0
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 4


def test_a_longer_recording_has_one_answer_with_each_windows(sound_train, sound_test, tmp_path):
    """Three seconds of "banana" said by held-out voices: one answer for the file (the mean of its
    windows' class shares), each window's own in --json; evaluate counts recordings, and says so."""
    model = teachable.train(teachable.Dataset.from_folder(sound_train), classifier="knn", validation_split=0)
    words = sorted((sound_test / "banana").glob("*.wav"))[:3]
    recording = tmp_path / "long" / "banana" / "three-bananas.wav"
    recording.parent.mkdir(parents=True)
    sf.write(recording, np.concatenate([fit_clip(load_audio(w)) for w in words]), 16000)
    prediction = model.predict(recording)
    assert prediction.label == "banana" and len(prediction.windows) == 3
    assert [start for start, _ in prediction.windows] == [0.0, 1.0, 2.0]
    mean = np.mean([[w.confidences[n] for n in model.labels] for _, w in prediction.windows], axis=0)
    assert np.allclose([prediction.confidences[n] for n in model.labels], mean)
    path = model.save(tmp_path / "m.teachable")
    out = subprocess.run([sys.executable, "-m", "teachable.cli", "predict", str(path), str(recording), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert reply["label"] == "banana" and [w["start"] for w in reply["windows"]] == [0.0, 1.0, 2.0]
    report = model.evaluate(teachable.Dataset.from_folder(tmp_path / "long", kind="sound"))
    assert report.accuracy == 1.0 and any("counted recordings, not windows: 1 recordings (3" in n for n in report.notes)


def test_models_and_projects_made_before_yamnet_keep_working(sound_train, sound_test, tmp_path):
    """A v1 sound model (speech_embedding alone) loads and predicts as before; a v1 project is
    re-embedded with both backbones when it is next trained, its old vectors forgotten, never mixed."""
    dataset = teachable.Dataset.from_folder(sound_train)
    old_backbone = get_sound_backbone(backbone_id=SOUND_BACKBONE_V1)
    x, y = dataset.embed(old_backbone)
    old = fit(x, y, dataset.classes, SOUND_BACKBONE_V1, "sound", classifier="head", validation_split=0)
    loaded = teachable.load(old.save(tmp_path / "old.teachable"))
    assert loaded.backbone_id == SOUND_BACKBONE_V1 and loaded.classifier.input_dim == 96
    clip = next((sound_test / "stop").glob("*.wav"))
    assert loaded.predict(clip).label == "stop"
    with Project.create(tmp_path / "old.teachable-project", kind="sound") as project:
        project.import_dataset(sound_train, embed=False)
        project._meta.set("backbone", SOUND_BACKBONE_V1)  # as a project made before YAMNet joined
        ids = project.missing_embeddings(SOUND_BACKBONE_V1)
        project._embeddings.put(SOUND_BACKBONE_V1, [(i, np.zeros(96, np.float32)) for i in ids])
    with Project.open(tmp_path / "old.teachable-project") as project:
        assert project.backbone_id == SOUND_BACKBONE and len(project.missing_embeddings()) == len(ids)
        seen = []
        model = project.train(on_embed_progress=seen.append, classifier="knn")
        assert sum(seen) == len(ids) and model.backbone_id == SOUND_BACKBONE
        assert project._meta.get("backbone") == SOUND_BACKBONE and not project.missing_embeddings()
        assert project.missing_embeddings(SOUND_BACKBONE_V1) == ids  # the old vectors are gone
        assert model.predict(clip).label == "stop"


def test_recordings_nobody_expects_get_a_sentence_or_an_answer(sound_train, tmp_path):
    """Odd rates and channel counts are read; silence and ten minutes of noise are answered (the
    latter window by window, in bounded memory); an empty or a non-sound file is one sentence."""
    model = teachable.train(teachable.Dataset.from_folder(sound_train), classifier="knn", validation_split=0)
    path = model.save(tmp_path / "m.teachable")
    rng = np.random.default_rng(3)
    odd = tmp_path / "odd.wav"  # 11,025 Hz, three channels, 24-bit
    sf.write(odd, rng.normal(0, 0.05, (11025 * 2, 3)).astype(np.float32), 11025, subtype="PCM_24")
    silence, long_noise = tmp_path / "silence.wav", tmp_path / "ten-minutes.flac"
    sf.write(silence, np.zeros(16000 * 3, np.float32), 16000)
    sf.write(long_noise, noise(599.0, rng, 0.02), 16000, format="FLAC")
    empty, fake = tmp_path / "empty.wav", tmp_path / "fake.wav"
    empty.write_bytes(b"")
    fake.write_bytes(b"MThd\x00\x00\x00\x06" + bytes(200))  # a MIDI file named .wav
    out = subprocess.run([sys.executable, "-m", "teachable.cli", "predict", str(path), "--json",
                          *map(str, (odd, silence, long_noise, empty, fake))], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr  # two files could not be read; the others answered
    rows = {Path(r["file"]).name: r for r in map(json.loads, out.stdout.strip().splitlines())}
    assert rows["odd.wav"]["label"] and len(rows["odd.wav"]["windows"]) == 2
    assert rows["silence.wav"]["label"] == "Background Noise"
    assert rows["ten-minutes.flac"]["label"] == "Background Noise" and len(rows["ten-minutes.flac"]["windows"]) == 599
    assert rows["empty.wav"]["error"] == "'%s' is empty (0 bytes)." % empty
    assert "not a sound file Teachable can read" in rows["fake.wav"]["error"]
