"""Does every base dependency have a wheel for each platform people install Teachable on?

    python bench/platform_wheels.py

For Windows x86-64, macOS arm64 and x86-64, Linux x86-64 and arm64, on Python 3.11-3.13: the
dependencies in pyproject.toml and theirs (requirements read from PyPI, environment markers
evaluated for each platform and Python), each resolved as pip resolves them: the newest release the specifiers allow that has a wheel this platform
and Python can install (a pure-Python wheel counts; a source archive alone does not: it would need a
compiler). Reads PyPI's JSON API
(the registry, not the packages). Prints a Markdown table and the packages that lack a wheel.
"""

from __future__ import annotations

import json
import sys
import tomllib
import urllib.error
import urllib.request
from functools import lru_cache
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

PYTHONS = ("3.11", "3.12", "3.13")
PLATFORMS = {  # name: (sys_platform, platform_machine, platform_system, wheel platform tags it accepts)
    "Windows x86-64": ("win32", "AMD64", "Windows", ("win_amd64",)),
    # macOS: wheels for macOS 10.9 to 15 (what a Mac of the last years runs), native or universal2
    "macOS arm64": ("darwin", "arm64", "Darwin", tuple(f"macosx_{major}_{minor}_{arch}" for major in range(10, 16)
                                                       for minor in range(0, 16) for arch in ("arm64", "universal2"))),
    "macOS x86-64": ("darwin", "x86_64", "Darwin", tuple(f"macosx_{major}_{minor}_{arch}" for major in range(10, 16)
                                                         for minor in range(0, 16) for arch in ("x86_64", "universal2"))),
    "Linux x86-64": ("linux", "x86_64", "Linux", tuple(f"manylinux_2_{v}_x86_64" for v in range(17, 36))
                     + ("manylinux2014_x86_64", "manylinux1_x86_64", "manylinux2010_x86_64")),
    "Linux arm64": ("linux", "aarch64", "Linux", tuple(f"manylinux_2_{v}_aarch64" for v in range(17, 36))
                    + ("manylinux2014_aarch64",)),
}


@lru_cache(maxsize=None)
def _json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{url}: {exc}") from None


def releases(name: str) -> dict:
    return _json(f"https://pypi.org/pypi/{canonicalize_name(name)}/json")


def files_of(name: str, version: str) -> list[dict]:
    return releases(name)["releases"].get(version, [])


def requirements_of(name: str, version: str) -> list[str]:
    """A release's requirements (the project's page answers for its newest release; older ones have
    pages of their own, which PyPI sometimes lacks for a day after a release)."""
    info = releases(name)["info"]
    if info["version"] == version:
        return info.get("requires_dist") or []
    try:
        return _json(f"https://pypi.org/pypi/{canonicalize_name(name)}/{version}/json")["info"].get("requires_dist") or []
    except RuntimeError:
        return []


def newest(requirement: Requirement, python: str, platform_tags: tuple[str, ...]) -> str | None:
    """The newest release the specifiers allow that has a wheel this platform and Python install
    (as pip picks), or None."""
    data = releases(requirement.name)
    allowed = sorted((Version(v) for v, files in data["releases"].items() if files and not Version(v).is_prerelease
                      and requirement.specifier.contains(v, prereleases=False)), reverse=True)
    for version in allowed:
        if installable(data["releases"][str(version)], python, platform_tags):
            return str(version)
    return None


def installable(files: list[dict], python: str, platform_tags: tuple[str, ...]) -> bool:
    from packaging.specifiers import SpecifierSet

    major_minor = python.replace(".", "")
    for f in files:
        if not f["filename"].endswith(".whl") or f.get("yanked"):
            continue
        if f.get("requires_python") and not SpecifierSet(f["requires_python"]).contains(f"{python}.0"):
            continue
        try:
            _, _, _, tags = parse_wheel_filename(f["filename"])
        except Exception:
            continue
        for tag in tags:
            py_ok = tag.interpreter in (f"cp{major_minor}", "py3", f"py{major_minor}") or (
                tag.abi == "abi3" and tag.interpreter.startswith("cp3") and int(tag.interpreter[3:]) <= int(major_minor[1:]))
            if py_ok and (tag.platform == "any" or tag.platform in platform_tags):
                return True
    return False


def closure(roots: list[Requirement], environment: dict, python: str,
            platform_tags: tuple[str, ...]) -> dict[str, tuple[Requirement, str | None]]:
    """Every package the roots need in this environment: name -> (requirement, version chosen)."""
    found: dict[str, tuple[Requirement, str | None]] = {}
    todo = list(roots)
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({**environment, "extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        version = newest(requirement, python, platform_tags)
        found[name] = (requirement, version)
        if version is None:
            continue
        for text in requirements_of(requirement.name, version):
            todo.append(Requirement(text))
    return found


def main() -> None:
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    roots = [Requirement(text) for text in project["project"]["dependencies"]]
    rows, gaps = [], []
    for platform_name, (sys_platform, machine, system, tags) in PLATFORMS.items():
        cells = []
        for python in PYTHONS:
            environment = {**default_environment(), "sys_platform": sys_platform, "platform_machine": machine,
                           "platform_system": system, "python_version": python, "python_full_version": f"{python}.0",
                           "os_name": "nt" if system == "Windows" else "posix"}
            packages = closure(roots, environment, python, tags)
            missing = sorted(name for name, (_, version) in packages.items() if version is None)
            cells.append("✔" if not missing else "✘ " + ", ".join(missing))
            gaps += [(platform_name, python, name) for name in missing]
        rows.append((platform_name, cells, len(packages)))
    print("| platform | " + " | ".join(f"Python {p}" for p in PYTHONS) + " | packages |")
    print("| --- |" + " --- |" * (len(PYTHONS) + 1))
    for platform_name, cells, count in rows:
        print(f"| {platform_name} | " + " | ".join(cells) + f" | {count} |")
    if gaps:
        print("\nwithout a wheel:", "; ".join(f"{n} ({p}, Python {py})" for p, py, n in gaps), file=sys.stderr)


if __name__ == "__main__":
    main()
