"""Exception types for everything a user can get wrong; the CLI and HTTP edges map them to messages."""

from __future__ import annotations


class TeachableError(Exception):
    """Base class: a problem the user can fix, with a message meant for a person."""

    http_status = 400


class InvalidImageError(TeachableError):
    """The bytes are not a readable image (not an image at all, truncated, empty)."""

    http_status = 422


class ImageTooLargeError(InvalidImageError):
    """The image has more pixels than we are willing to decode (a decompression bomb guard)."""

    http_status = 413


class DatasetError(TeachableError):
    """A dataset cannot be used for training or evaluation (missing folder, no classes, ...)."""

    http_status = 422


class NotEnoughClassesError(DatasetError):
    """Training needs at least two classes that each have samples."""


class ModelFileError(TeachableError):
    """A `.teachable` model file is corrupt, foreign, from a newer version or for another backbone."""

    http_status = 422


class NotFoundError(TeachableError):
    """An id or name that does not exist (class, sample, project, model)."""

    http_status = 404


class ConflictError(TeachableError):
    """The request clashes with what exists (a duplicate class name, say)."""

    http_status = 409


class ProjectFileError(TeachableError):
    """The file is not a Teachable project, is damaged, or comes from a newer version."""

    http_status = 422


class InvalidNameError(TeachableError):
    """A class or project name that cannot be used (empty, too long, with path separators...)."""

    http_status = 422


class StorageFullError(TeachableError):
    """The disk (or the project file's size limit) is full; nothing of the failed change was kept."""

    http_status = 507


class InvalidAudioError(InvalidImageError):
    """The bytes are not a readable sound file, or are too long. (A kind of invalid sample.)"""


class NothingDetectedError(InvalidImageError):
    """A pose or hand project got a picture with no person (or no hand) in it: not a sample."""


class MissingDependencyError(TeachableError):
    """An optional part of Teachable is not installed (say, mediapipe for pose projects)."""

    http_status = 501


class ClusterUnavailableError(TeachableError):
    """The Ray cluster that runs the networks (``--ray``) cannot be reached or joined."""

    http_status = 503


class ExplanationUnavailableError(TeachableError):
    """A model cannot say why it answers (made before models kept their examples, say), or an
    explanation was asked of something it does not apply to."""

    http_status = 409


def json_problem(exc: Exception) -> str:
    """What is wrong with a JSON text, in words for a person: Python's own advice for huge numbers
    ("use sys.set_int_max_str_digits()") is for programmers, not for someone opening a file."""
    text = str(exc)
    if "int_max_str_digits" in text or "integer string conversion" in text:
        return "it holds a number with thousands of digits, which no model or project has"
    return text[:200]
