"""Setting up an exported bundle the way its README says: npm packages, a fresh virtualenv, and
onnxruntime-web beside its web page (from the packages `make node-deps` installs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNREACHABLE = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT")
NODE_MODULES = Path(__file__).resolve().parents[1] / ".node" / "node_modules"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ORT_WEB_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs")


def add_onnxruntime_web(folder: Path) -> None:
    """The three onnxruntime-web files the bundle's README says to copy beside index.html for offline use."""
    for name in ORT_WEB_FILES:
        shutil.copy(NODE_MODULES / "onnxruntime-web" / "dist" / name, folder / name)


def npm_install(folder: Path) -> Path:
    """`npm install` in the bundle (its .npmrc applies); skips the test when the registry is unreachable."""
    if not shutil.which("npm"):
        pytest.skip("needs Node.js and npm")
    out = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=folder, capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0 and any(code in out.stderr for code in UNREACHABLE):
        pytest.skip(f"the npm registry cannot be reached: {out.stderr[-300:]}")
    assert out.returncode == 0, out.stderr
    return folder / "node_modules"


def readme_pip_installs(folder: Path) -> list[list[str]]:
    """The `pip install ...` lines of the bundle's README.md code blocks, comments dropped."""
    import shlex

    commands, in_code = [], False
    for line in (folder / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif in_code and line.startswith("pip install"):
            commands.append(shlex.split(line.split("#")[0]))
    assert commands, "the README says how to install nothing"
    return commands


def fresh_venv(folder: Path, where: Path) -> Path:
    """A new virtual environment (no packages of this project's) with what the bundle's README
    tells users to pip install; returns its python. Skips when the package index is unreachable."""
    import sys

    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300)
    python = where / "bin" / "python"
    for command in readme_pip_installs(folder):
        out = subprocess.run([str(python), "-m", *command, "--quiet", "--disable-pip-version-check"],
                             capture_output=True, text=True, timeout=900)
        if out.returncode != 0 and any(s in out.stderr for s in ("NewConnectionError", "Temporary failure in name resolution")):
            pytest.skip(f"the package index cannot be reached: {out.stderr[-300:]}")
        assert out.returncode == 0, out.stderr
    return python
