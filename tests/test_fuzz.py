"""Fuzzing the paths that read untrusted files with hypothesis: mutated real photos (upload),
mutated model files (load) and mutated project files (open). Only documented errors may come out."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import teachable
from teachable import Project
from teachable.embed.preprocess import inspect_image
from teachable.errors import TeachableError
from teachable.model import Model
from photos import photo

# The suite replays the same examples on every run (CI must not fail by chance); set
# FUZZ_EXAMPLES=5000 to explore fresh random mutations when hunting for new failures.
EXPLORE = "FUZZ_EXAMPLES" in os.environ
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    derandomize=not EXPLORE,
    database=None if not EXPLORE else settings.default.database,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    photo("cat").resize((64, 48)).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    photo("rocket").resize((40, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


SEEDS = {"jpeg": jpeg_bytes(), "png": png_bytes()}


@st.composite
def mutations(draw, original: bytes):
    """Flip bytes, cut the file, splice in random bytes or repeat a chunk."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "repeat", "zero"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 512))] * draw(st.integers(1, 4))
        else:
            end = min(len(data), at + draw(st.integers(1, 64)))
            data[at:end] = bytes(end - at)
    return bytes(data)


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_upload_path_survives_mutated_images(kind):
    @FUZZ
    @given(data=mutations(SEEDS[kind]))
    def check(data):
        try:
            media_type, width, height = inspect_image(data, "upload")
        except TeachableError:
            return
        assert media_type.startswith("image/") and width > 0 and height > 0

    check()


@pytest.fixture(scope="module")
def model_file(fewshot_train):
    return teachable.train(teachable.Dataset.from_folder(fewshot_train), classifier="knn").to_bytes()


def test_model_loading_survives_mutated_model_files(model_file):
    @FUZZ
    @given(data=mutations(model_file))
    def check(data):
        try:
            model = Model.from_bytes(data)
        except TeachableError:
            return
        assert len(model.labels) >= 2  # whatever loads is a usable model
        [prediction] = model.predict_embeddings(np.ones((1, 1280), np.float32))
        assert prediction.label in model.labels

    check()


@pytest.fixture(scope="module")
def project_file(tmp_path_factory, fewshot_train):
    path = tmp_path_factory.mktemp("fuzzproj") / "p.teachable-project"
    with Project.create(path) as project:
        project.add_class("cat")
        project.add_class("rocket")
        project.add_samples("cat", sorted((fewshot_train / "cat").glob("*.jpg"))[:2], embed=False)
        project.add_samples("rocket", sorted((fewshot_train / "rocket").glob("*.jpg"))[:2], embed=False)
    return path.read_bytes()


def test_project_open_survives_mutated_project_files(project_file, tmp_path):
    counter = iter(range(10**6))

    @FUZZ
    @given(data=mutations(project_file))
    def check(data):
        path = tmp_path / f"m{next(counter)}.teachable-project"
        path.write_bytes(data)
        try:
            with Project.open(path) as project:
                project.name, project.settings
                for info in project.classes():
                    for sample in project.samples(info.id):
                        project.sample_bytes(sample.id)
                project.integrity_check()
        except TeachableError:
            pass
        finally:
            for extra in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                if extra.exists():
                    extra.unlink()

    check()
