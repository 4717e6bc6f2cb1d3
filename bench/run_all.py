"""Run the benchmark suite and write its results into docs/benchmarks.md.

    python bench/run_all.py [--data DIR] [--hands DIR] [--knn-data FILE] [--only NAME ...] [--quick]

Each benchmark prints a Markdown table; this runs them one after another and rewrites the
"Latest `make bench` run" section at the end of docs/benchmarks.md (between its markers) with
every table, the date and the machine, keeping the rest of the page. With --data (class
folders of photos) the accuracy benchmark runs too and its few-shot curves are drawn to
docs/img/accuracy-<name>.png; --hands does the same for a hand gesture dataset (--kind hand).
--quick uses smaller sizes (for a smoke run; the page says so).
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "benchmarks.md"
IMAGES = ROOT / "docs" / "img"
START, END = "<!-- make-bench:start -->", "<!-- make-bench:end -->"


def suite(args) -> list[tuple[str, list[str]]]:
    quick = args.quick
    runs = [
        ("embed", ["bench/embed.py", "--images", "32" if quick else "64"]),
        ("classifiers", ["bench/classifiers.py"] + (["--data", str(args.knn_data)] if args.knn_data else [])),
        ("live_latency", ["bench/live_latency.py", "--seconds", "5" if quick else "20"]),
        ("import_speed", ["bench/import_speed.py", "--images", "300" if quick else "5000"]),
        ("export_bench", ["bench/export_bench.py"]),
        ("tflite_bench", ["bench/tflite_bench.py"] + (["--data", str(args.data)] if args.data else [])),
        ("node_agreement", ["bench/node_agreement.py"] + (["--data", str(args.data)] if args.data else [])),
        ("runtimes", ["bench/runtimes.py", "--images", "32" if quick else "64"] + (["--data", str(args.data)] if args.data else [])),
        ("classroom", ["bench/classroom.py", "--students", *(["2", "10"] if quick else ["1", "10", "30"]),
                       "--seconds", "5" if quick else "30"]),
        ("load_test", ["bench/load_test.py", "--clients", "10" if quick else "30", "--seconds", "10" if quick else "60"]),
        ("sound", ["bench/sound.py"]),
        ("memory_bounds", ["bench/memory_bounds.py"]),
        ("tfjs_agreement", ["bench/tfjs_agreement.py", "--photos", "8" if quick else "16"]),
        ("pose_latency", ["bench/pose_latency.py", "--frames", "20" if quick else "60"]),
        ("heatmaps", ["bench/heatmaps.py", "--photos", "20" if quick else "60"]),
    ]
    if args.data:
        runs.append(("label_noise", ["bench/label_noise.py", "--data", str(args.data)] + (["--per-class", "60"] if quick else [])))
    for name, data, kind in (("accuracy", args.data, "image"), ("hand_accuracy", args.hands, "hand")):
        if data:
            IMAGES.mkdir(parents=True, exist_ok=True)
            plot = IMAGES / f"{name.replace('_', '-')}.png"
            runs.append((name, ["bench/accuracy.py", "--data", str(data), "--kind", kind, "--plot", str(plot)]
                         + (["--draws", "2"] if quick else [])))
    if args.only:
        runs = [run for run in runs if run[0] in args.only]
    return runs


def rewrite_page(sections: list[str], quick: bool, names: list[str], everything: list[str]) -> None:
    page = PAGE.read_text(encoding="utf-8") if PAGE.exists() else "# Benchmarks\n"
    if START in page and END in page:
        page = page[: page.index(START)].rstrip() + "\n"
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    block = [START, "", "## Latest `make bench` run", "",
             f"Written by `bench/run_all.py` on {stamp}{' (quick sizes: a smoke run, not the figures above)' if quick else ''}.",
             "Each table is the benchmark's own output; the sections above explain them."]
    skipped = [name for name in everything if name not in names]
    if skipped:
        block.append(f"Not run this time: {', '.join(skipped)} (their latest figures are in the sections above).")
    block.append("")
    block += sections + [END, ""]
    PAGE.write_text(page.rstrip() + "\n\n" + "\n".join(block), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="class folders of photos for the accuracy benchmark")
    parser.add_argument("--hands", type=Path, help="class folders of hand photos (hand gesture accuracy)")
    parser.add_argument("--knn-data", type=Path, help="real embeddings (.npz from bench/crop_embeddings.py) for kNN speed")
    parser.add_argument("--only", nargs="*", help="run only these benchmarks")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sections, failed = [], []
    for name, command in suite(args):
        print(f"== {name}: {' '.join(command)}", flush=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True)
        took = time.perf_counter() - start
        print(result.stdout, flush=True)
        if result.returncode != 0:
            failed.append(name)
            print(result.stderr[-3000:], file=sys.stderr)
            sections += [f"### `{name}`", "", f"Failed (exit code {result.returncode}); see the console output.", ""]
            continue
        sections += [f"### `{name}` ({took:.0f} s)", "", result.stdout.strip(), ""]
        plot = next((c for c in command if c.endswith(".png")), None)
        if plot and Path(plot).exists():
            sections += [f"![{name} few-shot curves](img/{Path(plot).name})", ""]
    everything = [name for name, _ in suite(argparse.Namespace(**{**vars(args), "only": None}))]
    for name in ("accuracy", "hand_accuracy"):
        if name not in everything:
            everything.append(name)
    rewrite_page(sections, args.quick, [name for name, _ in suite(args)], everything)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    if failed:
        sys.exit(f"benchmarks that failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
