"""Training settings: each one's default and valid range, declared once.

The CLI's options, the HTTP API's request schema, a project's stored defaults, ``fit`` and the
web page's form (``GET /api/settings``) are all made from :data:`SETTINGS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .classify.head import DEFAULTS as HEAD_DEFAULTS
from .classify.knn import DEFAULT_K
from .errors import TeachableError


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: object
    help: str
    minimum: float | None = None
    maximum: float | None = None
    min_open: bool = False  # the minimum itself is not allowed
    max_open: bool = False
    choices: tuple[str, ...] = ()

    def check(self, value: object) -> object:
        """The value, converted to the setting's type, or a clear error."""
        if self.choices:
            if value not in self.choices:
                raise TeachableError(f"{self.name} must be one of {', '.join(self.choices)}; got {value!r}.")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (self.type is int and not float(value).is_integer()):
            raise TeachableError(f"{self.name} must be {'a whole number' if self.type is int else 'a number'}; got {value!r}.")
        number = self.type(value)
        if isinstance(number, float) and not math.isfinite(number):
            raise TeachableError(f"{self.name} must be a finite number.")
        low_ok = self.minimum is None or (number > self.minimum if self.min_open else number >= self.minimum)
        high_ok = self.maximum is None or (number < self.maximum if self.max_open else number <= self.maximum)
        if not (low_ok and high_ok):
            raise TeachableError(f"{self.name} must be {self.describe_range()}; got {value!r}.")
        return number

    def describe_range(self) -> str:
        low = f"{'above' if self.min_open else 'at least'} {self.minimum:g}" if self.minimum is not None else ""
        high = f"{'below' if self.max_open else 'at most'} {self.maximum:g}" if self.maximum is not None else ""
        return " and ".join(part for part in (low, high) if part) or "any number"

    def to_dict(self) -> dict:
        return {"name": self.name, "type": "choice" if self.choices else self.type.__name__, "default": self.default,
                "help": self.help, "minimum": self.minimum, "maximum": self.maximum, "min_open": self.min_open,
                "max_open": self.max_open, "choices": list(self.choices)}


SETTINGS: tuple[Setting, ...] = (
    Setting("classifier", str, "head", "head: a trained softmax layer (Teachable Machine's method); knn: instant nearest neighbours.",
            choices=("head", "knn")),
    Setting("epochs", int, HEAD_DEFAULTS["epochs"], "Passes over the training samples (head).", 1, 10_000),
    Setting("batch_size", int, HEAD_DEFAULTS["batch_size"], "Samples per training step (head).", 1, 65_536),
    Setting("learning_rate", float, HEAD_DEFAULTS["learning_rate"], "Step size of the optimiser (head).", 0, 10, min_open=True),
    Setting("k", int, DEFAULT_K, "Neighbours that vote (kNN).", 1, 1000),
    Setting("validation_split", float, HEAD_DEFAULTS["validation_split"], "Share of each class held out to measure accuracy.",
            0, 1, max_open=True),
    Setting("seed", int, HEAD_DEFAULTS["seed"], "Random seed of the split and the training (same seed, same model).",
            0, 2**32 - 1),
)
BY_NAME = {s.name: s for s in SETTINGS}
DEFAULT_SETTINGS: dict[str, object] = {s.name: s.default for s in SETTINGS}


def check_settings(changes: dict) -> dict:
    """Only known settings, each within its range (converted to its type)."""
    unknown = sorted(set(changes) - set(BY_NAME))
    if unknown:
        raise TeachableError(f"Unknown {'setting' if len(unknown) == 1 else 'settings'}: {', '.join(unknown)}.")
    return {name: BY_NAME[name].check(value) for name, value in changes.items()}
