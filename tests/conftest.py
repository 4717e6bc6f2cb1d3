import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from photos import write_views  # noqa: E402

# `pytest -m "not browser and not slow"` is the fast inner loop (about a minute); `make test`
# runs everything. Browser tests are marked by their module's name; these modules are slow as a
# whole (real servers and processes, exports, espeak-ng); single slow tests carry the mark.
SLOW_MODULES = {"test_faults", "test_tflite", "test_teachable_machine", "test_export", "test_sound_export", "test_project_crash", "test_cli",
                "test_sound", "test_pose", "test_keras_export", "test_classroom"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__
        if module.startswith("test_browser"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
        elif module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
        # `make test` runs two workers (pytest-xdist, --dist loadgroup): every browser test in one of
        # them, one at a time (two Chromiums at once starve each other's pages), each other module
        # whole in either (its module fixtures made once).
        item.add_marker(pytest.mark.xdist_group("browser" if module.startswith("test_browser") else module))


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Each test session builds its own backbone export, as a fresh install would."""
    os.environ.setdefault("TEACHABLE_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield


@pytest.fixture(scope="session")
def backbone(_private_cache):
    from teachable.embed.image import get_backbone

    return get_backbone("cpu")


@pytest.fixture(scope="session")
def fewshot_train(tmp_path_factory) -> Path:
    return write_views(tmp_path_factory.mktemp("train"), per_class=8, seed=1)


@pytest.fixture(scope="session")
def fewshot_test(tmp_path_factory) -> Path:
    return write_views(tmp_path_factory.mktemp("heldout"), per_class=6, seed=2)
