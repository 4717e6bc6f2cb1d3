"""Copy the JavaScript libraries the sketch page serves into the package, from the npm registry.

    python scripts/vendor_js.py [--out src/teachable/server/static/vendor]

`make install` runs it (once; it needs npm, and the network only then): the sketch page at
/sketch/ serves p5.js, ml5.js, TensorFlow.js, @teachablemachine/image and CodeMirror from
Teachable itself, so sketches run with no internet. The files are not kept in git (7 MB of other
projects' builds); each package's licence goes into NOTICE.md beside them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "teachable" / "server" / "static" / "vendor"

# package@version: {file in the package: name served under /vendor/}
PACKAGES = {
    "p5@1.11.3": {"lib/p5.min.js": "p5.min.js"},
    "ml5@1.3.1": {"dist/ml5.min.js": "ml5.min.js"},
    "@tensorflow/tfjs@1.3.1": {"dist/tf.min.js": "tf.min.js"},
    "@teachablemachine/image@0.8.5": {"dist/teachablemachine-image.min.js": "teachablemachine-image.min.js"},
    "codemirror@5.65.21": {"lib/codemirror.js": "codemirror.js", "lib/codemirror.css": "codemirror.css",
                           "mode/javascript/javascript.js": "codemirror-javascript.js"},
}
LICENCE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "license.txt", "license", "LICENCE")


def unpack(spec: str, folder: Path) -> Path:
    """npm pack (no install scripts, no dependencies) and unpack into folder/<name>."""
    tarball = subprocess.run(["npm", "pack", "--silent", spec], cwd=folder, check=True, capture_output=True,
                             text=True).stdout.strip().splitlines()[-1]
    target = folder / tarball.removesuffix(".tgz")
    with tarfile.open(folder / tarball) as archive:
        archive.extractall(target, filter="data")
    return target / "package"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if shutil.which("npm") is None:
        print("npm not found: the sketch page will say its libraries are missing (install Node.js, then make vendor).")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    notice = ["# Libraries served by the sketch page", "",
              "Copied from the npm registry by `scripts/vendor_js.py`; each under its own licence, below.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        for spec, files in PACKAGES.items():
            try:
                package = unpack(spec, Path(tmp))
            except (subprocess.CalledProcessError, OSError) as exc:
                print(f"npm could not fetch {spec} ({exc}): the sketch page will say its libraries are missing.")
                return 0
            meta = json.loads((package / "package.json").read_text("utf-8"))
            for source, name in files.items():
                shutil.copyfile(package / source, args.out / name)
            licence = next((package / f for f in LICENCE_FILES if (package / f).exists()), None)
            notice += [f"## {meta['name']} {meta['version']} — {meta.get('license', 'see below')}", "",
                       f"Files: {', '.join(files.values())}", ""]
            if licence is not None:
                notice += ["```", licence.read_text("utf-8", errors="replace").strip(), "```", ""]
    (args.out / "NOTICE.md").write_text("\n".join(notice), encoding="utf-8")
    print(f"vendored {len(PACKAGES)} packages into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
