"""Projects: the file users keep for days. Real photos, real SQLite files, real processes."""

import io
import sqlite3
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import teachable
from teachable import Project
from teachable.errors import (
    ConflictError, ImageTooLargeError, InvalidImageError, InvalidNameError, NotEnoughClassesError, NotFoundError,
    ProjectFileError,
)
from photos import photo, write_views


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "p.teachable-project", name="Test") as p:
        yield p


def test_create_open_and_classes(tmp_path):
    path = tmp_path / "hands.teachable-project"
    with Project.create(path) as p:
        up = p.add_class("thumbs up 👍")
        p.add_class("thumbs down")
        p.rename_class(up.id, "pouce levé 👍")
        assert [c.name for c in p.classes()] == ["pouce levé 👍", "thumbs down"]
    with Project.open(path) as p:
        assert p.name == "hands" and p.kind == "image"
        assert [c.name for c in p.classes()] == ["pouce levé 👍", "thumbs down"]
        assert p.integrity_check() == "ok"


def test_samples_keep_their_original_bytes(project):
    cat = project.add_class("cat")
    original = jpeg(photo("cat"), quality=73)
    [sample_id] = project.add_samples(cat.id, [original], source="webcam")
    assert project.sample_bytes(sample_id) == original
    info = project.sample(sample_id)
    assert info.media_type == "image/jpeg" and info.source == "webcam"
    assert (info.width, info.height) == photo("cat").size
    # the same file again in the same class is not stored twice
    assert project.add_samples("cat", [original]) == [sample_id]
    assert project.class_info("cat").count == 1
    # but it may be in another class
    other = project.add_class("also cat")
    assert project.add_samples(other.id, [original]) != [sample_id]


def test_embeddings_are_cached_and_only_missing_ones_computed(project):
    a, b = project.add_class("cat"), project.add_class("rocket")
    project.add_samples(a.id, [jpeg(photo("cat"))], embed=False)
    project.add_samples(b.id, [jpeg(photo("rocket"))], embed=True)
    assert len(project.missing_embeddings()) == 1
    assert project.ensure_embeddings() == 1
    assert project.ensure_embeddings() == 0
    vectors, classes, ids = project.embeddings()
    assert vectors.shape == (2, 1280) and list(classes) == [a.id, b.id]
    # a new backbone id finds nothing cached, and nothing was deleted for it
    assert len(project.missing_embeddings("some-future-backbone")) == 2
    assert len(project.embeddings()[2]) == 2


def test_remove_sample_clear_and_remove_class(project):
    a = project.add_class("cat")
    ids = project.add_samples(a.id, [jpeg(photo("cat")), jpeg(photo("coffee"))])
    project.remove_sample(ids[0])
    with pytest.raises(NotFoundError):
        project.sample(ids[0])
    assert project.clear_class("cat") == 1 and project.class_info("cat").count == 0
    project.add_samples(a.id, [jpeg(photo("rocket"))])
    project.remove_class("cat")
    assert project.classes() == [] and project.samples() == []
    assert project.embeddings()[2] == []  # cached embeddings went with their samples


def test_train_stores_current_model(tmp_path, fewshot_train, fewshot_test):
    with Project.create(tmp_path / "x.teachable-project") as p:
        result = p.import_dataset(fewshot_train)
        assert result.added == 32 and not result.skipped
        model = p.train(classifier="knn")
        assert model.report.accuracy == 1.0
        p.train(epochs=10)
        infos = p.models()
        assert [m.classifier for m in infos] == ["knn", "head"] and [m.current for m in infos] == [False, True]
        current = p.model()
        assert current.classifier.kind == "head"
        report = current.evaluate(teachable.Dataset.from_folder(fewshot_test))
        assert report.accuracy >= 0.95


def test_bad_samples_store_nothing(project):
    a = project.add_class("cat")
    good = jpeg(photo("cat"))
    truncated = good[: len(good) // 2]
    for bad, error in [
        (b"", InvalidImageError),
        (b"plain text, not an image", InvalidImageError),
        (truncated, InvalidImageError),
        (_png_claiming(30000, 30000), ImageTooLargeError),
    ]:
        with pytest.raises(error):
            project.add_samples(a.id, [good, bad])
    assert project.class_info("cat").count == 0  # the good one was not half-stored either
    errors = []
    ids = project.add_samples(a.id, [good, b"nope"], on_error=lambda i, e: errors.append((i, str(e))))
    assert len(ids) == 1 and errors[0][0] == 1 and "not an image" in errors[0][1]


def test_one_pixel_image_is_accepted(project):
    a = project.add_class("dot")
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1), (255, 0, 0)).save(buffer, format="PNG")
    [sample_id] = project.add_samples(a.id, [buffer.getvalue()])
    assert project.sample(sample_id).width == 1


def _png_claiming(width, height):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize(
    "name,error",
    [("", InvalidNameError), ("   ", InvalidNameError), ("a/b", InvalidNameError), ("a\\b", InvalidNameError),
     ("x" * 10_000, InvalidNameError), ("tab\there", InvalidNameError), ("..", InvalidNameError)],
)
def test_bad_class_names(project, name, error):
    with pytest.raises(error):
        project.add_class(name)
    assert project.classes() == []


def test_duplicate_and_unknown_ids(project):
    project.add_class("cat")
    with pytest.raises(ConflictError):
        project.add_class("cat")
    with pytest.raises(ConflictError):
        project.rename_class(project.add_class("dog").id, "cat")
    with pytest.raises(NotFoundError):
        project.add_samples(999, [jpeg(photo("cat"))])
    with pytest.raises(NotFoundError):
        project.remove_sample(12345)
    with pytest.raises(NotFoundError):
        project.remove_class("unicorn")
    with pytest.raises(NotFoundError, match="no trained model"):
        project.model()


def test_training_needs_two_classes_with_samples(project):
    project.add_class("cat")
    project.add_class("empty")
    project.add_samples("cat", [jpeg(photo("cat"))])
    with pytest.raises(NotEnoughClassesError, match="empty"):
        project.train()


def test_files_that_are_not_projects(tmp_path):
    text = tmp_path / "notes.teachable-project"
    text.write_text("hello")
    other_db = tmp_path / "other.db"
    sqlite3.connect(other_db).execute("CREATE TABLE t (x)").connection.close()
    newer = tmp_path / "newer.teachable-project"
    Project.create(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ProjectFileError, match="not a Teachable project"):
        Project.open(text)
    with pytest.raises(ProjectFileError, match="not a Teachable project"):
        Project.open(other_db)
    with pytest.raises(ProjectFileError, match="newer"):
        Project.open(newer)
    with pytest.raises(ProjectFileError, match="does not exist"):
        Project.open(tmp_path / "missing.teachable-project")


def test_projects_with_damaged_schema_or_text_are_refused_clearly(tmp_path):
    """Found by fuzzing: a lost table or undecodable text must read as a damaged file."""
    dropped = tmp_path / "dropped.teachable-project"
    Project.create(dropped).close()
    conn = sqlite3.connect(dropped)
    conn.execute("DROP TABLE meta")
    conn.commit()
    conn.close()
    with pytest.raises(ProjectFileError, match="damaged.*meta"):
        Project.open(dropped)

    garbled = tmp_path / "garbled.teachable-project"
    with Project.create(garbled) as project:
        project.add_class("cat")
    conn = sqlite3.connect(garbled)
    conn.execute("UPDATE classes SET name = CAST(X'80FF41' AS TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(ProjectFileError, match="damaged"):  # now caught when the file is opened
        Project.open(garbled)


def test_dataset_round_trip_is_byte_identical(tmp_path, fewshot_train):
    with Project.create(tmp_path / "a.teachable-project") as a:
        a.import_dataset(fewshot_train, embed=False)
        for target in (tmp_path / "out", tmp_path / "out.zip"):
            a.export_dataset(target)
            with Project.create(tmp_path / f"b-{target.name}.teachable-project") as b:
                b.import_dataset(target, embed=False)
                assert [c.name for c in b.classes()] == [c.name for c in a.classes()]
                originals = sorted((a.class_info(s.class_id).name, a.sample_bytes(s.id)) for s in a.samples())
                copies = sorted((b.class_info(s.class_id).name, b.sample_bytes(s.id)) for s in b.samples())
                assert copies == originals


def test_import_reports_bad_files_and_unsafe_zip_entries(tmp_path, fewshot_train):
    import zipfile

    archive = tmp_path / "mixed.zip"
    good = next((fewshot_train / "cat").glob("*.jpg")).read_bytes()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("cat/a.jpg", good)
        z.writestr("cat/broken.jpg", good[:300])
        z.writestr("cat/notes.txt", "hello")
        z.writestr("../evil/x.jpg", good)
        z.writestr("loose.jpg", good)
        z.writestr("rocket/b.jpg", jpeg(photo("rocket")))
    with Project.create(tmp_path / "z.teachable-project") as p:
        result = p.import_dataset(archive, embed=False)
        assert result.added == 2
        skipped = dict(result.skipped)
        assert set(skipped) == {"cat/broken.jpg", "cat/notes.txt", "../evil/x.jpg", "loose.jpg"}
        assert [c.name for c in p.classes()] == ["cat", "rocket"]


def test_copied_project_retrains_to_the_same_predictions(tmp_path, fewshot_train, fewshot_test):
    images = sorted(fewshot_test.rglob("*.jpg"))
    with Project.create(tmp_path / "orig.teachable-project") as p:
        p.import_dataset(fewshot_train)
        first = p.train(seed=5, epochs=15).predict_batch(images)
        (tmp_path / "elsewhere").mkdir()
        copy_path = p.save_copy(tmp_path / "elsewhere" / "copy.teachable-project")
    with Project.open(copy_path) as copy:
        assert copy.missing_embeddings() == []  # the cache travelled with the file
        again = copy.train(seed=5, epochs=15).predict_batch(images)
    assert again == first


def test_settings_persist(project):
    project.update_settings(classifier="knn", k=5)
    assert project.settings["classifier"] == "knn" and project.settings["k"] == 5
    with pytest.raises(Exception, match="Unknown setting"):
        project.update_settings(colour="blue")


def test_workspace(tmp_path):
    ws = teachable.Workspace(tmp_path)
    with ws.create("Hand signs ✋") as p:
        first = ws.id_of(p.path)
    with ws.create("Hand signs ✋") as p:
        second = ws.id_of(p.path)
    assert first == "hand-signs" and second == "hand-signs-2"
    assert {e.id for e in ws.list()} == {first, second}
    copy = ws.duplicate(first)
    with ws.open(copy) as p:
        assert p.name == "Hand signs ✋ (copy)"
    renamed = ws.rename(second, "Faces")
    assert renamed == "faces" and "hand-signs-2" not in ws
    ws.delete(copy)
    assert sorted(e.id for e in ws.list()) == ["faces", "hand-signs"]
    (tmp_path / "junk.teachable-project").write_text("not a project")
    assert len(ws.list()) == 2  # foreign files are left alone, not listed
    with pytest.raises(NotFoundError):
        ws.open("../etc/passwd")


def test_reorder_and_move(project):
    a, b, c = (project.add_class(n).id for n in ("a", "b", "c"))
    project.reorder_classes([c, a, b])
    assert [x.name for x in project.classes()] == ["c", "a", "b"]
    with pytest.raises(Exception, match="every class"):
        project.reorder_classes([a, b])
    [sample] = project.add_samples("a", [jpeg(photo("cat"))], embed=False)
    project.move_sample(sample, "b")
    assert project.sample(sample).class_id == b


def test_a_project_is_found_by_the_name_typed(tmp_path):
    """`teachable project import tmdoi_webcam x.tm` makes the id "tmdoi-webcam": the name as typed
    finds it, and so does the project's own name."""
    from click.testing import CliRunner

    from teachable import Workspace
    from teachable.cli import main

    workspace = Workspace(tmp_path / "ws")
    workspace.create("tmdoi_webcam").close()
    workspace.create("My Photos").close()
    assert workspace.resolve("tmdoi_webcam") == "tmdoi-webcam" and workspace.resolve("My Photos") == "my-photos"
    result = CliRunner().invoke(main, ["project", "--workspace", str(workspace.root), "info", "tmdoi_webcam"])
    assert result.exit_code == 0, result.output
    missing = CliRunner().invoke(main, ["project", "--workspace", str(workspace.root), "info", "nothing here"])
    assert missing.exit_code == 1 and "There is no project 'nothing here'" in missing.output


def test_the_confusion_matrix_in_the_terminal_names_its_columns():
    """Issue 25, item 17: `teachable evaluate` labelled the matrix's columns 0/1/2."""
    import numpy as np

    from teachable.classify.metrics import Report

    labels = ["thumbs up", "thumbs down", "nothing at all in view"]
    text = Report.from_predictions(labels, np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1])).format()
    header = text.split("confusion matrix (rows: true class, columns: predicted):\n")[1].splitlines()[0]
    assert "thumbs up" in header and "thumbs down" in header and "nothing at …" in header, header
    assert "(0)" not in text and "    0     1     2" not in text


def test_a_wrong_sized_cached_embedding_is_computed_again(tmp_path):
    """A project file whose cache holds a vector of the wrong size (damaged, or made by hand): it
    reads as missing and is embedded again, so review, live kNN and training never meet it (issue 36)."""
    import sqlite3

    from servers import jpegs

    path = tmp_path / "odd.teachable-project"
    with Project.create(path) as p:
        p.add_class("cat")
        p.add_class("rocket")
        photos = jpegs(6, seed=8)
        p.add_samples("cat", photos[0::2])
        p.add_samples("rocket", photos[1::2])
        p.ensure_embeddings()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE embeddings SET vector = zeroblob(12) WHERE sample_id = 2")
    conn.commit()
    conn.close()
    with Project.open(path) as p:
        assert p.missing_embeddings() == [2]
        vectors, _, ids = p.embeddings()
        assert 2 not in ids and vectors.shape == (5, 1280)
        assert p.ensure_embeddings() == 1
        vectors, _, ids = p.embeddings()
        assert 2 in ids and vectors.shape == (6, 1280)


def test_reviewing_an_empty_project_says_so(tmp_path):
    from teachable.errors import DatasetError
    from teachable.explain.samples import review_project

    with Project.create(tmp_path / "empty.teachable-project") as p:
        p.add_class("a")
        p.add_class("b")
        with pytest.raises(DatasetError, match="nothing to review"):
            review_project(p)
