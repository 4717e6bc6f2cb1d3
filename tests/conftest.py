import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from photos import write_views  # noqa: E402


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
