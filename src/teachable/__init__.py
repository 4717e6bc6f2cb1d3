"""Teachable: train classifiers of images, sounds, body poses or hand gestures from a few examples, on your own machine."""

from .version import __version__  # noqa: E402

from .api import imagenet_guesses, load, train  # noqa: E402
from .classify.metrics import Report  # noqa: E402
from .dataset import Dataset  # noqa: E402
from .errors import TeachableError  # noqa: E402
from .model import Model, Prediction  # noqa: E402
from .project import Project  # noqa: E402
from .workspace import Workspace  # noqa: E402

__all__ = ["Dataset", "Model", "Prediction", "Project", "Report", "Workspace", "TeachableError", "imagenet_guesses", "load", "train", "__version__"]
