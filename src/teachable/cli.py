"""The `teachable` command: a thin shell over the Python API with progress bars and plain errors."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from contextlib import contextmanager
from functools import wraps
from pathlib import Path

import click
from tqdm import tqdm

from . import api
from .dataset import Dataset
from .errors import TeachableError
from .kinds import KINDS, get_kind
from .settings import SETTINGS, Setting
from .wording import counted
from .terminal import printable, quiet_native_chatter


def echo(message: object = "", **kwargs) -> None:
    """click.echo of text that may hold foreign strings (labels, sources, names): printed safely."""
    click.echo(printable(message), **kwargs)


def friendly_errors(command):
    """Turn our exceptions into one line on stderr and exit code 1 (never a traceback)."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except TeachableError as exc:
            echo(f"error: {exc}", err=True)
            sys.exit(1)
        except BrokenPipeError:  # the reader went away (`teachable predict ... | head`): stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so Python's exit does not complain either
            sys.exit(0)
        except OSError as exc:
            echo(f"error: {exc.strerror or exc} ({exc.filename or ''})".rstrip(" ()"), err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


def _click_type(setting: Setting):
    if setting.choices:
        return click.Choice(list(setting.choices))
    kind = click.IntRange if setting.type is int else click.FloatRange
    return kind(setting.minimum, setting.maximum, min_open=setting.min_open, max_open=setting.max_open)


def training_options(with_defaults: bool):
    """The training settings as options (from teachable.settings): with their defaults for
    `train`, without for `project train` (where a project's own settings fill the gaps)."""

    def decorate(command):
        for setting in reversed(SETTINGS):
            command = click.option(f"--{setting.name.replace('_', '-')}", setting.name, type=_click_type(setting),
                                   default=setting.default if with_defaults else None, show_default=with_defaults,
                                   help=setting.help)(command)
        return command

    return decorate


def _bar(total: int, desc: str, unit: str, file=None) -> tqdm:
    """A progress bar on stderr; none at all for nothing to do (no empty "0img" bar before an error)."""
    return tqdm(total=total, desc=desc, unit=f" {unit}", file=file or sys.stderr, dynamic_ncols=True, leave=False,
                disable=not total)


@contextmanager
def _own_messages_only(verbose: bool):
    """The stream for Teachable's own messages. Unless ``verbose``, whatever else writes to stdout
    or stderr meanwhile (the TensorFlow Lite converter's progress lines, absl and C++ logs,
    PyTorch's warnings, at the level of the file descriptors) goes to a temporary file, shown
    only if the conversion fails."""
    if verbose:
        yield sys.stderr
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    ours = os.fdopen(os.dup(saved[2]), "w", buffering=1)
    with tempfile.TemporaryFile() as sink:
        for fd in saved:
            os.dup2(sink.fileno(), fd)
        try:
            yield ours
        except BaseException:
            sys.stdout.flush()
            sys.stderr.flush()
            sink.seek(0)
            ours.write(sink.read().decode("utf-8", "replace")[-4000:])
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            ours.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="teachable")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where to run the network.")
@click.pass_context
def main(ctx: click.Context, device: str) -> None:
    """Teachable: train classifiers of images, sounds, body poses or hand gestures from a few
    examples, on your own machine."""
    ctx.obj = {"device": device}
    quiet_native_chatter()


@main.command()
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Where to write the .teachable model.")
@training_options(with_defaults=True)
@click.option("--kind", type=click.Choice(["auto", *KINDS]), default="auto", show_default=True,
              help="What the model learns from: images, sounds, body poses or hand gestures "
                   "(auto: images or sounds, by the files).")
@click.pass_context
@friendly_errors
def train(ctx, data_dir, output, kind, **settings):
    """Train a model on DATA_DIR (one sub-folder of images or sounds per class)."""
    dataset = Dataset.from_folder(data_dir, kind=None if kind == "auto" else kind)
    files = f"{len(dataset)} file{'' if len(dataset) == 1 else 's'}"
    classes = f"{len(dataset.classes)} class{'' if len(dataset.classes) == 1 else 'es'}"
    echo(f"{files} in {classes}: " + ", ".join(f"{n} ({c})" for n, c in dataset.counts().items()), err=True)
    # The bars appear with the first progress: a dataset refused before embedding (one class) shows none.
    bars: dict[str, tqdm] = {}

    def on_embed(done: int) -> None:
        if "embedding" not in bars:
            bars["embedding"] = _bar(len(dataset), "embedding", "file")
        bars["embedding"].update(done)

    def on_epoch(stats):
        if "training" not in bars:
            if "embedding" in bars:
                bars["embedding"].close()
            bars["training"] = _bar(stats.epochs, "training", "epoch")
        bars["training"].set_postfix(loss=f"{stats.loss:.3f}", acc=f"{stats.accuracy:.2f}",
                                     val_acc="-" if stats.val_accuracy is None else f"{stats.val_accuracy:.2f}")
        bars["training"].update(1)

    try:
        model = api.train(dataset, on_epoch=on_epoch, on_embed_progress=on_embed, device=ctx.obj["device"], **settings)
    finally:
        for bar in bars.values():
            bar.close()
    for skipped in dataset.skipped:
        echo(f"skipped {skipped.path}: {skipped.reason}", err=True)
    model.save(output)
    if model.report is not None:
        echo("validation report\n" + model.report.format())
    else:
        for note in model.notes:
            echo(f"note: {note}")
    echo(f"saved {output}")


def ray_options(command):
    """--ray ADDRESS and how many actors: the options every command that can use a Ray cluster shares."""
    command = click.option("--ray-actors", type=click.IntRange(1, 10_000), default=2, show_default=True,
                           help="With --ray: how many actors (each loads the network once; one GPU each where the "
                                "cluster has GPUs).")(command)
    return click.option("--ray", "ray_address", metavar="ADDRESS",
                        help="Run the networks on a Ray cluster: local (start one on this machine), auto (the one "
                             "`ray start` made), or ray://host:port. Needs the ray extra.")(command)


@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file.")
@click.option("--explain", is_flag=True, help="Also name the training samples each file resembles most.")
@click.option("-k", "--neighbours", type=click.IntRange(1, 20), default=3, show_default=True,
              help="How many training samples --explain names.")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Also write one row per file (path, label, shares, error) to a .csv or .parquet file; a re-run "
                   "with the same file skips the files it already answered.")
@ray_options
@click.pass_context
@friendly_errors
def predict(ctx, model_path, files, as_json, explain, neighbours, output, ray_address, ray_actors):
    """Classify FILES with a trained MODEL (photos; sound files for a sound model). A folder
    stands for the files below it that the model reads."""
    from .model import Model
    from .predictions import answered, check_output, files_to_predict

    if ray_address is not None:  # before anything else: without the extra, say so first
        from .scale.cluster import require_ray

        require_ray()
    model = api.load(model_path, device=ctx.obj["device"])
    if output is not None:
        check_output(output)
    paths = [str(p) for p in files_to_predict(files, model.kind if isinstance(model, Model) else "image")]
    kept = answered(output) if output is not None else []
    done = {row["path"] for row in kept}
    todo = [p for p in paths if p not in done]
    if done:
        echo(f"{counted(len(paths) - len(todo), 'file')} already answered in {output}: skipped", err=True)
    if ray_address is not None or output is not None:
        failed = _predict_rows(model, todo, output, kept, as_json, ray_address, ray_actors, explain)
    else:
        failed = sum(not _predict_one(model, Path(p), as_json, explain, neighbours) for p in todo)
    if failed:
        sys.exit(1)


def _predict_rows(model, paths, output, kept, as_json, ray_address, ray_actors, explain) -> int:
    """Rows (path, label, shares, error), from Ray Data actors or this machine, printed and
    written as they come; returns how many files failed."""
    from .model import Model
    from .predictions import PredictionsFile, local_rows

    if explain:
        raise TeachableError("--explain answers file by file: leave out -o and --ray to use it.")
    if ray_address is not None:
        if not isinstance(model, Model):
            raise TeachableError("--ray runs Teachable models (.teachable or a project file); run a Teachable Machine "
                                 "export without --ray.")
        from .scale.bulk import predict_paths

        rows = predict_paths(model.to_bytes(), paths, ray_address, actors=ray_actors)
    else:
        rows = local_rows(model, paths)
    failed = 0
    sink = PredictionsFile(output, kept) if output is not None else None
    try:
        with _bar(len(paths), "predicting", "file") as bar:
            for row in rows:
                failed += bool(row["error"])
                if sink is not None:
                    sink.write(row)
                if as_json:
                    shares = json.loads(row["shares"]) if row["shares"] else {}
                    reply = {"file": row["path"], "error": row["error"]} if row["error"] else \
                        {"file": row["path"], "label": row["label"], "confidence": shares[row["label"]], "confidences": shares}
                    echo(json.dumps(reply, ensure_ascii=False))
                elif sink is None and row["error"]:
                    echo(f"error: {row['error']}", err=True)
                elif sink is None:
                    echo(_answer_line(row["path"], row["label"], json.loads(row["shares"])))
                bar.update(1)
    finally:
        if sink is not None:
            sink.close()
    if sink is not None:
        echo(f"wrote {counted(len(paths) + len(kept), 'row')} to {output} ({failed:,} with an error)", err=True)
    return failed


def _answer_line(path, label: str, confidences: dict[str, float]) -> str:
    """One file's answer as the terminal shows it: the label and its share, then every class's."""
    others = "  ".join(f"{name} {p:.1%}" for name, p in sorted(confidences.items(), key=lambda kv: -kv[1]))
    return f"{path}: {label} ({confidences[label]:.1%})   [{others}]"


def _predict_one(model, path: Path, as_json: bool, explain: bool, neighbours: int) -> bool:
    """Print one file's answer (or its error); False when it has none."""
    from .model import Model

    try:
        result = model.predict(path, explain, neighbours) if isinstance(model, Model) else model.predict(path)
    except TeachableError as exc:
        if as_json:
            echo(json.dumps({"file": str(path), "error": str(exc)}, ensure_ascii=False))
        else:
            echo(f"error: {exc}", err=True)
        return False
    reply = result.to_dict()
    if explain and not isinstance(model, Model):
        reply.update(neighbours=None, unexplained="A Teachable Machine export keeps no training examples to compare with.")
    if as_json:
        echo(json.dumps({"file": str(path), **reply}, ensure_ascii=False))
        return True
    whole = f"  (the whole recording: mean of {len(result.windows)} one-second windows)" if getattr(result, "windows", None) else ""
    echo(_answer_line(path, result.label, result.confidences) + whole)
    if explain and reply.get("neighbours"):
        echo("    most like: " + ", ".join(f"{n['source']} ({n['label']}, {n['similarity']:.2f})" for n in reply["neighbours"]))
    elif explain:
        echo(f"    {reply['unexplained']}")
    return True


@main.command("explain")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the picture of the explanation (PNG).")
@click.option("--label", help="Explain this class instead of the predicted one.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.pass_context
@friendly_errors
def explain_file(ctx, model_path, file, output, label, as_json):
    """Show where in FILE the answer of MODEL comes from: a heatmap over a photo, the windows of a
    sound clip that mattered, or the landmarks of a pose or hand."""
    from .explain.heatmap import explain, picture_png

    model = api.load(model_path, device=ctx.obj["device"])
    heatmap, drawn_on = explain(model, file, label)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(picture_png(heatmap, drawn_on, file))
    if as_json:
        echo(json.dumps({"file": str(file), **heatmap.to_dict()}, ensure_ascii=False))
        return
    echo(f"{file}: explaining “{heatmap.label}” (predicted: {heatmap.predicted})")
    echo(heatmap.describe())
    if output:
        echo(f"wrote {output}")


@main.command("review")
@click.argument("source", metavar="DATA_DIR_OR_PROJECT")
@click.option("--workspace", type=click.Path(path_type=Path), envvar="TEACHABLE_WORKSPACE",
              help="Where projects are looked up by name (default: your projects folder).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per flagged sample, then a summary.")
@click.pass_context
@friendly_errors
def review_samples(ctx, source, workspace, as_json):
    """Find samples to look at again: possibly mislabelled, near duplicates, outliers; and what
    about the classes may mislead the model. SOURCE: a folder of class folders, a project file,
    or a project's name in the workspace."""
    from .explain.samples import review_dataset, review_project

    path = Path(source)
    if path.is_dir():
        dataset = Dataset.from_folder(path)
        backbone = get_kind(dataset.kind).backbone(ctx.obj["device"])
        missing = len(dataset.samples)
        with _bar(missing, "embedding", "file") as bar:
            dataset.embed(backbone, bar.update)
        result = review_dataset(dataset, backbone)
    else:
        ctx.obj["workspace"] = workspace
        with _open_project(ctx, source) as opened:
            with _bar(len(opened.missing_embeddings()), "embedding", "sample") as bar:
                opened.ensure_embeddings(on_progress=bar.update, device=ctx.obj["device"])
            result = review_project(opened)
    if as_json:
        for flag in result.flags:
            echo(json.dumps(flag.to_dict(), ensure_ascii=False))
        echo(json.dumps(result.summary(), ensure_ascii=False))
        return
    for line in result.lines():
        echo(line)


@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
@friendly_errors
def evaluate(ctx, model_path, data_dir, as_json):
    """Measure MODEL on DATA_DIR (one sub-folder per class, named as the model's classes)."""
    model = api.load(model_path, device=ctx.obj["device"])
    dataset = Dataset.from_folder(data_dir, kind=model.kind)
    with _bar(len(dataset), "embedding", "file") as bar:
        report = model.evaluate(dataset, on_progress=bar.update)
    echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if as_json else report.format())


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor(as_json):
    """Say what is installed, what runs the networks, where Teachable keeps its files, and which
    optional parts are missing (with the command that adds each)."""
    from .doctor import report, text

    data = report()
    if as_json:
        echo(json.dumps(data, indent=2))
        return
    for line in text(data):
        echo(line)


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--top", type=click.IntRange(1, 1000), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@friendly_errors
def classify(ctx, images, top, as_json):
    """Show what the pretrained network sees in IMAGES (its ImageNet top guesses)."""
    failed = 0
    for path in images:
        try:
            guesses = api.imagenet_guesses(path, top=top, device=ctx.obj["device"])
        except TeachableError as exc:
            failed += 1
            echo(f"error: {exc}", err=True)
            continue
        if as_json:
            echo(json.dumps({"file": str(path), "top": [g.__dict__ for g in guesses]}))
            continue
        echo(f"{path}")
        echo(f"  {'class':<32} {'id':>4}  probability")
        for g in guesses:
            echo(f"  {g.label:<32} {g.index:>4}  {g.probability:8.2%}")
    if failed:
        sys.exit(1)


@main.command("export")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["onnx", "tflite", "tfjs", "keras"]), default="onnx", show_default=True,
              help="onnx: our bundle with examples; tflite: TensorFlow Lite; tfjs: Teachable Machine's TensorFlow.js files; "
                   "keras: Teachable Machine's keras_model.h5 + labels.txt (Keras 2 and 3).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="A new folder, or a file name ending in .zip.")
@click.option("--calibration", type=click.Path(path_type=Path),
              help="tflite: a folder of representative images (e.g. the training photos; up to 500 are used) "
                   "to also make the quantised model.tflite.")
@click.option("--verbose", is_flag=True, help="tflite: also show the converter's own logs.")
@click.pass_context
@friendly_errors
def export_model(ctx, model_path, fmt, output, calibration, verbose):
    """Export MODEL for use outside Teachable: the model, metadata, labels and example code."""
    from .embed.preprocess import prepare
    from .export.bundle import write_bundle

    model = api.load(model_path, device=ctx.obj["device"])
    images = None
    if calibration is not None:
        if fmt != "tflite":
            raise TeachableError("--calibration is for --format tflite (int8 quantisation).")
        dataset = Dataset.from_folder(calibration)
        images = []
        for sample in dataset.samples[:500]:
            try:
                images.append(prepare(sample))
            except TeachableError as exc:
                echo(f"skipped {sample}: {exc}", err=True)
    bars: dict[str, tqdm] = {}
    with _own_messages_only(verbose or fmt != "tflite") as messages:

        def progress(step: str, done: int, total: int) -> None:  # the TensorFlow Lite conversions take minutes
            bar = bars.get(step) or bars.setdefault(step, _bar(total, step, "image" if total > 1 else "step", messages))
            bar.update(done - bar.n)
            if done >= total:
                bar.close()
                echo(f"{step}: done", file=messages)

        path = write_bundle(model, output, fmt, images, model_name=Path(model_path).stem, on_progress=progress)
    echo(f"wrote {path}")


@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("source", required=False, type=click.Path(path_type=Path))
@click.option("--overlap", type=click.FloatRange(0, 1, max_open=True), default=0.5, show_default=True,
              help="How much consecutive one-second windows overlap.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.6, show_default=True,
              help="Report a class only when the model is at least this sure.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per detection.")
@click.pass_context
@friendly_errors
def listen(ctx, model_path, source, overlap, threshold, as_json):
    """Recognise sounds continuously: in SOURCE (a recording), or on the microphone without it."""
    from .listen import listen_file, listen_microphone, merge

    model = api.load(model_path, device=ctx.obj["device"])

    def show(d) -> None:
        if as_json:
            echo(json.dumps(d.to_dict(), ensure_ascii=False))
        else:
            echo(f"{d.time:8.2f}s  {d.label}  ({d.confidence:.0%})")

    if source is None:
        echo("listening to the microphone (Ctrl+C to stop)", err=True)
        listen_microphone(model, show, overlap, threshold)
        return
    for detection in merge(listen_file(model, source, overlap, threshold)):
        show(detection)


def _workspace(ctx: click.Context):
    from .workspace import Workspace

    return Workspace(ctx.obj.get("workspace"))


def _open_project(ctx: click.Context, ref: str):
    """A project by workspace id, or by the path of a project file."""
    from .project import Project

    path = Path(ref)
    if path.suffix and path.exists():
        return Project.open(path)
    workspace = _workspace(ctx)
    return workspace.open(workspace.resolve(ref))


@main.group()
@click.option("--workspace", type=click.Path(path_type=Path), envvar="TEACHABLE_WORKSPACE",
              help="Folder of projects (default: your user data folder; env TEACHABLE_WORKSPACE).")
@click.pass_context
def project(ctx, workspace):
    """Work with projects: one file each, holding classes, samples and models."""
    ctx.obj["workspace"] = workspace


@project.command("create")
@click.argument("name")
@click.option("--kind", type=click.Choice(list(KINDS)), default="image", show_default=True)
@click.pass_context
@friendly_errors
def project_create(ctx, name, kind):
    """Create a project called NAME in the workspace."""
    workspace = _workspace(ctx)
    with workspace.create(name, kind=kind) as created:
        echo(f"created {workspace.id_of(created.path)} ({created.path})")


@project.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@friendly_errors
def project_list(ctx, as_json):
    """List the projects in the workspace, most recently changed first."""
    entries = _workspace(ctx).list()
    if as_json:
        echo(json.dumps([e.to_dict() for e in entries], ensure_ascii=False))
        return
    if not entries:
        echo("no projects yet: create one with `teachable project create NAME`")
    for e in entries:
        echo(f"{e.id:<30} {e.kind:<6} {counted(e.classes, 'class'):>11} {counted(e.samples, 'sample'):>14}   {e.name}")


@project.command("info")
@click.argument("ref", metavar="PROJECT")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@friendly_errors
def project_info(ctx, ref, as_json):
    """Show a project's classes, sample counts, settings and models."""
    with _open_project(ctx, ref) as p:
        info = {
            "name": p.name, "kind": p.kind, "path": str(p.path), "backbone": p.backbone_id,
            "classes": [c.to_dict() for c in p.classes()], "settings": p.settings,
            "models": [{k: v for k, v in m.to_dict().items() if k != "settings"} for m in p.models()],
            "missing_embeddings": len(p.missing_embeddings()),
        }
    if as_json:
        echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    echo(f"{info['name']}  ({info['kind']} project, {info['path']})")
    for c in info["classes"]:
        echo(f"  class {c['name']:<30} {counted(c['count'], 'sample'):>14}")
    echo("  settings: " + ", ".join(f"{k}={v}" for k, v in info["settings"].items()))
    for m in info["models"]:
        accuracy = m["metrics"]["accuracy"] if m["metrics"] else None
        echo(f"  model {m['id']:>3} {m['created']} {m['classifier']:<5} "
                   f"{'' if accuracy is None else f'val. accuracy {accuracy:.1%}'}{'  (current)' if m['current'] else ''}")


@project.command("import")
@click.argument("ref", metavar="PROJECT")
@click.argument("source", type=click.Path(path_type=Path))
@ray_options
@click.pass_context
@friendly_errors
def project_import(ctx, ref, source, ray_address, ray_actors):
    """Add the class folders of SOURCE (a folder or a zip) to PROJECT; or, when SOURCE is a
    Teachable Machine project (.tm), open it as a new project named PROJECT. A re-run adds only
    what is new (the same file twice is one sample)."""
    from .intake import ImportResult, dataset_files

    if source.suffix.lower() == ".tm":
        return _import_tm(ctx, ref, source)
    if ray_address is not None:  # the embeddings as Ray Data jobs, each window of samples committed as it ends
        from .scale.bulk import use_ray_data

        use_ray_data(ray_address, actors=ray_actors)
    with _open_project(ctx, ref) as p:
        total = sum(1 for _ in dataset_files(source, ImportResult(), p.rules)) if source.exists() else 0
        with _bar(total, "importing", "file") as bar:
            result = p.import_dataset(source, on_progress=bar.update)
        who = "no hand" if p.kind == "hand" else "nobody"
    for label, reason in result.skipped:
        echo(f"skipped {label}: {reason}", err=True)
    echo(f"added {counted(result.added, 'sample')} ({counted(result.duplicates, 'duplicate')} ignored, "
         f"{len(result.skipped):,} skipped)")
    if result.nobody:
        echo(f"{counted(result.nobody, 'picture')} with {who} in view among them: kept as “nobody in view” samples "
             "(right for a background class), as the webcam and .tm imports keep them.")


def _import_tm(ctx: click.Context, name: str, source: Path) -> None:
    from .tm.projects import import_tm, tm_sample_count

    if not source.is_file():
        raise TeachableError(f"There is no file '{source}'.")
    with _bar(tm_sample_count(source), "importing", "sample") as bar:
        report = import_tm(_workspace(ctx), source, name, on_progress=bar.update)
    for line in report.lines()[1:]:
        echo(line, err=True)
    echo(f"created project {report.project_id}: {report.lines()[0]}")


@project.command("export")
@click.argument("ref", metavar="PROJECT")
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--model", "as_model", is_flag=True, help="Write the current trained model (.teachable) instead of the samples.")
@click.pass_context
@friendly_errors
def project_export(ctx, ref, target, as_model):
    """Write PROJECT's samples as class folders (a folder, or TARGET.zip), or its model with --model."""
    with _open_project(ctx, ref) as p:
        if as_model:
            p.model().save(target)
        else:
            p.export_dataset(target)
    echo(f"wrote {target}")


@project.command("publish")
@click.argument("ref", metavar="PROJECT")
@click.option("--off", is_flag=True, help="Stop publishing (the URL stops working).")
@click.pass_context
@friendly_errors
def project_publish(ctx, ref, off):
    """Publish PROJECT's current image model for Teachable Machine code (served by `teachable serve`
    at /tm/KEY/, readable from any web page), or stop with --off."""
    with _open_project(ctx, ref) as p:
        key = p.publish(not off)
    if key:
        echo(f"published: /tm/{key}/  (e.g. http://127.0.0.1:8000/tm/{key}/ while `teachable serve` runs)")
    else:
        echo("not published")


@project.command("train")
@click.argument("ref", metavar="PROJECT")
@training_options(with_defaults=False)
@click.pass_context
@friendly_errors
def project_train(ctx, ref, **options):
    """Train PROJECT (options not given come from the project's settings) and keep the model."""
    settings = {k: v for k, v in options.items() if v is not None}
    with _open_project(ctx, ref) as p:
        missing = len(p.missing_embeddings())
        with _bar(missing, "embedding", "sample") as bar:
            model = p.train(on_embed_progress=bar.update, device=ctx.obj["device"], **settings)
    echo(model.report.format() if model.report else "\n".join(f"note: {n}" for n in model.notes))


def _access_for(host: str) -> tuple[str | None, set[str] | None]:
    """(token, allowed Host names): none on loopback (but only loopback names), else a token."""
    import os

    from .server.access import LOOPBACK_NAMES, is_loopback, new_token

    if is_loopback(host):
        return None, set(LOOPBACK_NAMES)
    return os.environ.get("TEACHABLE_TOKEN") or new_token(), None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback: only this computer).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workspace", type=click.Path(path_type=Path), envvar="TEACHABLE_WORKSPACE",
              help="Folder of projects (default: your user data folder; env TEACHABLE_WORKSPACE).")
@click.option("--allow-origin", "allow_origins", multiple=True,
              help="A web origin (https://example.org) allowed to call the API from its pages; repeatable.")
@click.option("--live-precision", type=click.Choice(["auto", "fp32", "bf16"]), envvar="TEACHABLE_LIVE_PRECISION",
              default="auto", show_default=True,
              help="Precision of live-preview frames on the CPU: auto is bfloat16 where the CPU runs it natively "
                   "(twice the frames); everything stored, predicted or exported is float32 whatever this says.")
@click.option("--https", "use_https", is_flag=True,
              help="Serve over HTTPS with a certificate Teachable makes and keeps (so pages on HTTPS sites, the p5.js "
                   "web editor say, can load published models from other computers).")
@click.option("--ray", "ray_address", metavar="ADDRESS",
              help="Run the image and sound networks as Ray Serve deployments: local (a cluster on this machine), auto "
                   "(the one `ray start` made), or ray://host:port. Needs the ray extra; docs/scale.md.")
@click.option("--ray-replicas", default="1", show_default=True, metavar="MIN[-MAX]",
              help="With --ray: replicas per network; MIN-MAX lets Ray Serve scale between them by load.")
@click.option("--ray-cpus", type=click.FloatRange(0.1, 256), default=1.0, show_default=True,
              help="With --ray: CPUs each replica reserves (a replica takes a GPU too where the cluster has one).")
@click.option("--ray-timeout", type=click.FloatRange(0.5, 600), default=10.0, show_default=True,
              help="With --ray: seconds an answer from the cluster may take before it counts as gone.")
@click.option("--ray-fallback/--no-ray-fallback", default=True, show_default=True,
              help="With --ray: when the cluster stops answering, run the networks here (say so once), or answer "
                   "503 to every request that needs them.")
@friendly_errors
def serve(host, port, workspace, allow_origins, live_precision, use_https, ray_address, ray_replicas, ray_cpus,
          ray_timeout, ray_fallback):
    """Start the web app (open the printed address in a browser).

    On 127.0.0.1 only this computer can connect. On any other --host, everyone must present a
    token: TEACHABLE_TOKEN, or a new one printed at start in the link to open. The sketch page's
    frame listens on the next port (docs/teachable-machine.md).
    """
    from .server import create_app
    from .server.run import addresses_to_open, run

    os.environ["TEACHABLE_LIVE_PRECISION"] = live_precision  # read when the image backbone loads
    if ray_address is not None:
        _serve_on_ray(ray_address, ray_replicas, ray_cpus, ray_timeout, ray_fallback)
    token, allowed = _access_for(host)
    app = create_app(workspace, token=token, allowed_hosts=allowed, allow_origins=allow_origins)
    tls = None
    scheme = "https" if use_https else "http"
    shown = addresses_to_open(host)
    if token:  # on the network: the address students type, for the links the page shows them
        app.state.classroom_origin = f"{scheme}://{shown[0]}:{port}"
    if use_https:
        from .server.tls import certificate_for, local_names

        files = certificate_for(local_names(host) + list(shown))
        tls = (str(files.certificate), str(files.key))
        app.state.tls_authority = files.authority
        echo(f"HTTPS with Teachable's own certificate authority, SHA-256 fingerprint\n  {files.fingerprint}\n"
             f"  a student's browser trusts it once: open {scheme}://{shown[0]}:{port}/tls/authority.pem and install it "
             "(or accept the warning on first visit); docs/teachable-machine.md says how.", err=True)
    links = [f"{scheme}://{address}:{port}/" + (f"?token={token}" if token else "") for address in shown]
    echo(f"Teachable is running at {links[0]}  (projects in {app.state.registry.workspace.root})", err=True)
    for other in links[1:]:
        echo(f"  also at {other}", err=True)
    if token:
        echo("Anyone with this link (it holds the access token) can use your projects.", err=True)
        echo(f"Students need no token for the sketch editor, {scheme}://{shown[0]}:{port}/sketch/ : publish a model "
             "and give them the link its export panel shows.", err=True)
    run(app, host, port, tls=tls)


def _serve_on_ray(address: str, replicas: str, cpus: float, timeout: float, fallback: bool) -> None:
    """Route the networks to Ray Serve and start the image one now (the first frame does not wait)."""
    from .embed import IMAGE_BACKBONE, load_backbone
    from .scale.cluster import describe
    from .scale.serving import ServeOptions, use_ray

    low, _, high = replicas.partition("-")
    try:
        least, most = int(low), int(high or low)
    except ValueError:
        raise TeachableError(f"--ray-replicas takes a number or MIN-MAX (2-8), not '{replicas}'.") from None
    if not 1 <= least <= most:
        raise TeachableError(f"--ray-replicas: MIN must be at least 1 and MAX at least MIN, not '{replicas}'.")
    echo(f"starting the networks on {describe(address)} …", err=True)
    use_ray(address, ServeOptions(min_replicas=least, max_replicas=most, cpus=cpus, timeout_s=timeout, fallback=fallback),
            say=lambda message: echo(message, err=True))
    load_backbone(IMAGE_BACKBONE)
    echo(f"the image and sound networks run on {describe(address)} (Ray Serve; replicas {least}"
         + (f" to {most}" if most > least else "") + ")", err=True)


@main.command("serve-model")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.pass_context
@friendly_errors
def serve_model(ctx, model_path, host, port):
    """Serve one MODEL file over HTTP: POST images to /api/predict.

    Off 127.0.0.1 a token is required (TEACHABLE_TOKEN, or a new one printed at start), sent as
    `Authorization: Bearer TOKEN`.
    """
    from .server.model_app import create_model_app
    from .server.run import addresses_to_open, run

    token, allowed = _access_for(host)
    app = create_model_app(model_path, ctx.obj["device"], token=token, allowed_hosts=allowed)
    shown = addresses_to_open(host)[0]
    echo(f"Serving {model_path} at http://{shown}:{port}/api/predict (docs: /docs)", err=True)
    if token:
        echo(f"Send the header  Authorization: Bearer {token}", err=True)
    echo(f"Sketch page (p5.js + ml5.js with this model): http://{shown}:{port}/sketch/", err=True)
    run(app, host, port)


if __name__ == "__main__":  # pragma: no cover
    main()
