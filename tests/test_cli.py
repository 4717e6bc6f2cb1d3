"""The `teachable` command as a user runs it: real processes, real files, plain errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from photos import photo


def run(*args, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "teachable.cli", *map(str, args)],
        capture_output=True, text=True, timeout=300, env=os.environ.copy(),
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def model_file(fewshot_train, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "photos.teachable"
    result = run("train", fewshot_train, "-o", out, "--epochs", "30", "--seed", "1")
    assert "validation report" in result.stdout and "accuracy:" in result.stdout
    assert "confusion matrix" in result.stdout
    assert out.exists()
    return out


def test_predict_json(model_file, fewshot_test):
    files = sorted((fewshot_test / "rocket").glob("*.jpg"))[:2] + sorted((fewshot_test / "cat").glob("*.jpg"))[:1]
    lines = run("predict", model_file, *files, "--json").stdout.strip().splitlines()
    results = [json.loads(line) for line in lines]
    assert [r["label"] for r in results] == ["rocket", "rocket", "cat"]
    assert all(abs(sum(r["confidences"].values()) - 1) < 1e-6 for r in results)


def test_predict_a_folder_into_a_file_that_a_rerun_goes_on_with(model_file, fewshot_test, tmp_path):
    import csv
    import shutil

    folder = tmp_path / "photos"
    shutil.copytree(fewshot_test, folder)
    (folder / "cat" / "notes.txt").write_text("not a photo: left out of a folder")
    (folder / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a photo")
    expected = len(list(folder.rglob("*.jpg")))
    first = run("predict", model_file, folder, "-o", tmp_path / "out.csv", check=False)
    assert first.returncode == 1 and f"wrote {expected:,} rows" in first.stderr  # one file failed: exit 1
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert len(rows) == expected and not any(r["path"].endswith("notes.txt") for r in rows)
    [bad] = [r for r in rows if r["error"]]
    assert bad["path"].endswith("broken.jpg") and not bad["label"]
    assert all(json.loads(r["shares"])[r["label"]] > 0.5 and r["label"] == Path(r["path"]).parent.name
               for r in rows if not r["error"])
    again = run("predict", model_file, folder, "-o", tmp_path / "out.csv", "--json", check=False)
    assert f"{expected - 1:,} files already answered" in again.stderr
    assert [json.loads(line)["file"] for line in again.stdout.splitlines()] == [bad["path"]]
    assert len(list(csv.DictReader((tmp_path / "out.csv").open()))) == expected
    (tmp_path / "nothing-here").mkdir()
    empty = run("predict", model_file, tmp_path / "nothing-here", check=False)
    assert empty.returncode == 1 and "holds no image files" in empty.stderr
    wrong = run("predict", model_file, folder, "-o", tmp_path / "out.xlsx", check=False)
    assert wrong.returncode == 1 and ".csv or .parquet" in wrong.stderr
    (tmp_path / "mine.csv").write_text("name,score\nann,3\n")  # someone's own file is never written over
    theirs = run("predict", model_file, folder, "-o", tmp_path / "mine.csv", check=False)
    assert theirs.returncode == 1 and "not a predictions file" in theirs.stderr
    assert (tmp_path / "mine.csv").read_text() == "name,score\nann,3\n"


def test_predict_text(model_file, fewshot_test):
    path = sorted((fewshot_test / "coffee").glob("*.jpg"))[0]
    assert ": coffee (" in run("predict", model_file, path).stdout


def test_evaluate(model_file, fewshot_test):
    report = json.loads(run("evaluate", model_file, fewshot_test, "--json").stdout)
    assert report["count"] == 24 and report["accuracy"] >= 0.95


def test_knn_training(fewshot_train, tmp_path):
    out = tmp_path / "knn.teachable"
    run("train", fewshot_train, "-o", out, "--classifier", "knn", "--k", "5")
    assert out.exists()


def test_classify_prints_the_imagenet_table(tmp_path):
    cat = tmp_path / "cat.jpg"
    photo("cat").save(cat)
    out = run("classify", cat).stdout
    assert "probability" in out and ("tabby" in out or "cat" in out)
    first = out.splitlines()[2]
    assert int(first.split()[-2]) in range(281, 286)


@pytest.mark.parametrize(
    "make_args,message",
    [
        (lambda tmp, model: ["predict", tmp / "garbage.teachable", tmp / "x.jpg"], "not a valid zip"),
        (lambda tmp, model: ["predict", model, tmp / "fake.jpg"], "not an image"),
        (lambda tmp, model: ["train", tmp / "empty", "-o", tmp / "m.teachable"], "no class folders"),
        (lambda tmp, model: ["train", tmp / "one", "-o", tmp / "m.teachable"], "two classes"),
        (lambda tmp, model: ["evaluate", model, tmp / "nowhere"], "not a folder"),
    ],
)
def test_errors_are_one_line_with_nonzero_exit(model_file, tmp_path, make_args, message):
    (tmp_path / "garbage.teachable").write_text("garbage")
    (tmp_path / "fake.jpg").write_text("not a photo")
    (tmp_path / "empty").mkdir()
    (tmp_path / "one" / "only").mkdir(parents=True)
    photo("cat").save(tmp_path / "one" / "only" / "cat.jpg")
    result = run(*make_args(tmp_path, model_file), check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_project_commands(fewshot_train, tmp_path):
    ws = ["project", "--workspace", tmp_path / "ws"]
    assert "created hand-signs" in run(*ws, "create", "Hand signs").stdout
    imported = run(*ws, "import", "hand-signs", fewshot_train)
    assert "added 32 samples" in imported.stdout
    assert "importing" in imported.stderr  # the progress bar
    assert "accuracy:" in run(*ws, "train", "hand-signs", "--classifier", "knn").stdout
    info = json.loads(run(*ws, "info", "hand-signs", "--json").stdout)
    assert [c["count"] for c in info["classes"]] == [8, 8, 8, 8] and info["models"][0]["current"]
    listed = json.loads(run(*ws, "list", "--json").stdout)
    assert listed[0]["id"] == "hand-signs" and listed[0]["samples"] == 32
    run(*ws, "export", "hand-signs", tmp_path / "out.zip")
    run(*ws, "export", "hand-signs", tmp_path / "m.teachable", "--model")
    assert run("predict", tmp_path / "m.teachable", next((fewshot_train / "cat").glob("*.jpg")), "--json").stdout
    missing = run(*ws, "info", "nope", check=False)
    assert missing.returncode == 1 and "no project 'nope'" in missing.stderr
    # counted nouns: one sample is "1 sample" (issue 33: `project list` said "1 samples")
    one = tmp_path / "one" / "cat"
    one.mkdir(parents=True)
    (one / "a.jpg").write_bytes(next((fewshot_train / "cat").glob("*.jpg")).read_bytes())
    run(*ws, "create", "Single")
    assert "added 1 sample (0 duplicates ignored" in run(*ws, "import", "single", tmp_path / "one").stdout
    line = next(l for l in run(*ws, "list").stdout.splitlines() if l.startswith("single"))
    assert "1 class" in line and " 1 sample " in line + " " and "samples" not in line and "classes" not in line, line


def test_predict_into_a_closed_pipe_exits_quietly(model_file, fewshot_test):
    files = sorted(fewshot_test.rglob("*.jpg")) * 20
    shell = f"{sys.executable} -m teachable.cli predict {model_file} --json {' '.join(map(str, files))} | head -n 1"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and json.loads(result.stdout)["label"] in ("cat", "rocket", "coffee", "astronaut")
    assert "Broken pipe" not in result.stderr and "Traceback" not in result.stderr


def test_import_without_class_folders_says_what_layout_it_expects(tmp_path, fewshot_train):
    import zipfile

    flat = tmp_path / "flat.zip"
    with zipfile.ZipFile(flat, "w") as archive:  # photos at the top level, no class folders
        for path in sorted(fewshot_train.rglob("*.jpg"))[:5]:
            archive.write(path, path.name)
    run("project", "--workspace", tmp_path / "ws", "create", "Flat")
    result = run("project", "--workspace", tmp_path / "ws", "import", "flat", flat, check=False)
    assert result.returncode == 1 and "class folders" in result.stderr and "photos/cat/1.jpg" in result.stderr


def test_a_project_file_given_as_a_model_uses_its_current_model(tmp_path, fewshot_train):
    """Issue 25, item 15: `teachable export PROJECT_FILE` said "The model file is damaged: Bad magic number"."""
    from click.testing import CliRunner

    from teachable import Project
    from teachable.cli import main

    path = tmp_path / "p.teachable-project"
    with Project.create(path) as project:
        project.import_dataset(fewshot_train)
    untrained = CliRunner().invoke(main, ["export", str(path), "-o", str(tmp_path / "x")])
    assert untrained.exit_code == 1 and "no trained model yet" in untrained.output and "magic" not in untrained.output
    with Project.open(path) as project:
        project.train(classifier="head", epochs=3)
    result = CliRunner().invoke(main, ["export", str(path), "--format", "tfjs", "-o", str(tmp_path / "web")])
    assert result.exit_code == 0 and (tmp_path / "web" / "model.json").exists(), result.output
    photo = next(fewshot_train.glob("cat/*"))
    assert CliRunner().invoke(main, ["predict", str(path), str(photo)]).exit_code == 0


def test_foreign_strings_never_reach_the_terminal_raw(tmp_path):
    """Labels and sample sources come from files made by anyone: terminal escapes in them (window
    title, clipboard write OSC 52, hidden link OSC 8, screen clear, bidi override) are printed as
    visible escapes by `predict --explain`, in text and JSON (issue 36)."""
    import numpy as np

    from teachable.training import fit

    labels = ["\x1b]0;owned\x07cat", "\x1b]52;c;ZXZpbA==\x07\x1b[2Jdog\u202e"]
    sources = [f"\x1b]8;;http://x.invalid\x1b\\file{i}\x1b]8;;\x1b\\" for i in range(12)]
    vectors = np.random.default_rng(0).normal(size=(12, 1280)).astype(np.float32)
    model = fit(vectors, np.array([0] * 6 + [1] * 6), labels, "efficientnet-lite0-imagenet-224-v1", epochs=2,
                sources=sources)
    model.save(tmp_path / "foreign.teachable")
    photo("cat").resize((96, 96)).save(tmp_path / "cat.jpg")
    for extra in ([], ["--json"]):
        result = run("predict", tmp_path / "foreign.teachable", tmp_path / "cat.jpg", "--explain", *extra)
        printed = result.stdout + result.stderr
        assert not [c for c in printed if ord(c) < 32 and c not in "\n\t" or 0x7f <= ord(c) <= 0x9f or c == "\u202e"]
        assert "\\u001b]0;owned" in printed and "x.invalid" in printed
        if extra:
            for line in result.stdout.splitlines():  # still JSON, and reads back as the original labels
                assert json.loads(line)["label"] in labels


def test_doctor_says_what_is_installed_and_how_to_add_what_is_not():
    import json as json_module

    from teachable.doctor import _part, text

    report = json_module.loads(run("doctor", "--json").stdout)
    names = {p["name"]: p for p in report["parts"]}
    assert names["onnxruntime"]["installed"] and names["speech_embedding"]["installed"] and names["YAMNet"]["installed"]
    assert report["runtime"] in ("openvino", "onnxruntime") and set(report["folders"]) == {"projects", "cache", "https"}
    missing = _part("nothing", "no-such-distribution-teachable", "for the test", "pip install something")
    assert not missing.installed and "-> pip install something" in missing.line()
    lines = text({**report, "parts": [*report["parts"], missing.__dict__], "missing": ["nothing"]})
    assert lines[-1] == "missing: nothing" and any("-> pip install something" in line for line in lines)
    assert "networks run on:" in run("doctor").stdout
