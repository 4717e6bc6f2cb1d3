"""A one-line description of the machine a benchmark ran on, for docs/benchmarks.md."""

from __future__ import annotations

import os
import platform


def describe() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = ""
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f", GPU {torch.cuda.get_device_name(0)}"
    except Exception:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}{gpu}"


def print_report(rows: list[tuple[str, str]], extra: str = "") -> None:
    """The machine line, then a two-column Markdown table."""
    print(f"machine: {describe()}{extra}")
    print()
    print("| measure | value |")
    print("| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
