"""Build hook: a wheel built from a clean checkout carries the sketch page's JavaScript libraries.

They are not kept in git (7 MB of other projects' builds); ``scripts/vendor_js.py`` copies them from
the npm registry. Building runs it when they are missing, so ``pip wheel .`` / ``python -m build`` on a
fresh checkout gives a wheel whose sketch page works offline (without npm the wheel is built anyway
and the page says which libraries are missing). Everything else is in pyproject.toml.
"""

import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
VENDOR = ROOT / "src" / "teachable" / "server" / "static" / "vendor"
SCRIPT = ROOT / "scripts" / "vendor_js.py"


class BuildWithVendoredLibraries(build_py):
    def run(self) -> None:
        if SCRIPT.exists() and not (VENDOR / "NOTICE.md").exists():
            subprocess.run([sys.executable, str(SCRIPT), "--out", str(VENDOR)], check=False)
        super().run()


setup(cmdclass={"build_py": BuildWithVendoredLibraries})
