"""Installing an exported bundle's Node.js packages the way its README says."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNREACHABLE = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT")


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
