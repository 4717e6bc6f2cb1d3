"""The image and sound backbones as Ray Serve deployments, behind the ordinary backbone interface.

``use_ray(address)`` routes :func:`teachable.embed.load_backbone` here for image and sound
backbones: the server's inference queue (every live stream and REST prediction, batched and fair
as before) and its bulk embedding hand their samples to a :class:`RayBackbone`, which sends each
to the backbone's deployment (one per backbone, replicas placed by Ray; ``@serve.batch`` groups
what reaches a replica). Pose and hand landmarks stay local: MediaPipe's trackers follow one
stream each, and their features are a few numbers, not a network's arithmetic.

Faults: a request whose replica died is sent once more (Serve has restarted or routed around the
replica by then; clients retrying is what Serve's fault-tolerance guide asks for); if that fails
too, or an answer takes longer than ``timeout_s``, the cluster is taken as not answering: this says
so once and embeds on this machine (or, with ``fallback=False``, answers
:class:`ClusterUnavailableError`) while a background probe asks the cluster every few seconds; when
it answers again, it says so and requests go there again. A live frame never waits forever and
never becomes an error.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import errors
from ..embed import IMAGE_BACKBONE, SOUND_BACKBONE, SOUND_BACKBONE_V1, route_backbones
from ..embed.queue import LIVE, REQUEST
from ..errors import ClusterUnavailableError, InvalidImageError
from .cluster import connect, describe, has_gpus, require_ray
from .routed import RoutedBackbone

ROUTED = (IMAGE_BACKBONE, SOUND_BACKBONE, SOUND_BACKBONE_V1)
PROBE_S = 5.0  # how often a cluster that stopped answering is asked again
APP_PREFIX = "teachable-"


@dataclass(frozen=True)
class ServeOptions:
    """How the deployments are sized. ``max_replicas`` above ``min_replicas`` lets Serve scale
    between them by load; ``gpus`` None: one per replica where the cluster has GPUs."""

    min_replicas: int = 1
    max_replicas: int = 1
    cpus: float = 1.0
    gpus: float | None = None
    timeout_s: float = 10.0
    fallback: bool = True


def app_name(backbone_id: str) -> str:
    return APP_PREFIX + ("image" if backbone_id == IMAGE_BACKBONE else backbone_id.split("-")[0] + "-" + backbone_id[-2:])


def deploy(backbone_id: str, options: ServeOptions):
    """Start (or find) the deployment of one backbone; returns its handle."""
    require_ray()
    from ray import serve
    from ray.serve.config import ProxyLocation

    from .replica import MAX_BATCH, EmbeddingReplica

    logging.getLogger("ray.serve").setLevel(logging.ERROR)  # its own lines are not for users (its log folder has them)
    serve.start(proxy_location=ProxyLocation.Disabled, logging_config={"log_level": "WARNING"})
    gpus = options.gpus if options.gpus is not None else (1.0 if has_gpus() else 0.0)
    scaling: dict[str, Any] = {"num_replicas": options.min_replicas}
    if options.max_replicas > options.min_replicas:
        scaling = {"autoscaling_config": {"min_replicas": options.min_replicas, "max_replicas": options.max_replicas,
                                          "target_ongoing_requests": MAX_BATCH}}
    deployment = serve.deployment(EmbeddingReplica).options(
        name="embed", ray_actor_options={"num_cpus": options.cpus, "num_gpus": gpus},
        max_ongoing_requests=4 * MAX_BATCH, health_check_period_s=2, health_check_timeout_s=30,
        max_constructor_retry_count=3, **scaling)  # a node without the weights fails fast, in one sentence
    device = "cuda" if gpus else "cpu"
    return serve.run(deployment.bind(backbone_id, device), name=app_name(backbone_id), route_prefix=None)


def portable(source: Any, backbone_id: str) -> Any:
    """What can travel to another machine: a path is read here, within the same limits."""
    if not isinstance(source, (str, Path)):
        return source
    from ..embed.reading import read_source

    if backbone_id == IMAGE_BACKBONE:
        from ..embed.preprocess import MAX_FILE_BYTES
        from ..errors import ImageTooLargeError

        return read_source(source, MAX_FILE_BYTES, ImageTooLargeError)
    from ..embed.audio import MAX_AUDIO_BYTES

    return read_source(source, MAX_AUDIO_BYTES, errors.InvalidAudioError, errors.InvalidAudioError)


def decoded(answer: Any) -> Any:
    """An embedding, or the InvalidImageError (of its own class) a replica reported."""
    if isinstance(answer, tuple):
        name, sentence = answer
        kind = getattr(errors, name, InvalidImageError)
        return kind(sentence) if isinstance(kind, type) and issubclass(kind, InvalidImageError) else InvalidImageError(sentence)
    return np.asarray(answer, np.float32)


def sentence_start(text: str) -> str:
    return text[:1].upper() + text[1:]


class ClusterGone(Exception):
    """A request failed twice, or its answer took too long."""


class RayBackbone(RoutedBackbone):
    """A backbone whose network runs on the cluster (live frames, REST predictions, bulk
    embedding); anything else is this machine's copy (:class:`RoutedBackbone`)."""

    def __init__(self, backbone_id: str, device: str, handle, options: ServeOptions, address: str,
                 say: Callable[[str], None]) -> None:
        super().__init__(backbone_id, device)
        self.queue_batch = 16
        self._handle = handle
        self._options = options
        self._address = address
        self._say = say
        self._gone = False
        self._lock = threading.Lock()

    @property
    def runtime(self) -> str:
        return "this machine (the Ray cluster does not answer)" if self._gone else f"ray ({describe(self._address)})"

    # -- the calls that go to the cluster ---------------------------------------------------
    def embed_frames(self, sources: list, priority: int = LIVE) -> list:
        if self._gone:
            return self._without_cluster(sources, priority)
        items: list[Any] = []
        for source in sources:
            try:
                items.append(portable(source, self.id))
            except InvalidImageError as exc:
                items.append(exc)
        try:
            return self._remote(items, priority == LIVE)
        except ClusterGone as exc:
            self._lose(exc)
            return self._without_cluster(sources, priority)

    def _without_cluster(self, sources: list, priority: int) -> list:
        if not self._options.fallback:
            raise ClusterUnavailableError(f"{sentence_start(describe(self._address))} does not answer: the networks "
                                          "are not run here (the server was started with --no-ray-fallback).")
        return self._local.embed_frames(sources, priority)

    def _remote(self, items: list, live: bool) -> list:
        sent = {i: self._handle.embed.remote((item, live)) for i, item in enumerate(items)
                if not isinstance(item, InvalidImageError)}
        answers = list(items)
        for i, response in sent.items():
            answers[i] = decoded(self._answer(response, items[i], live))
        return answers

    def _answer(self, response, item: Any, live: bool) -> Any:
        """One answer; a failed request is sent again once (Serve routes it to a live replica)."""
        timeout = self._options.timeout_s
        try:
            return response.result(timeout_s=timeout)
        except TimeoutError as exc:  # Ray's GetTimeoutError is one too
            raise ClusterGone(f"no answer in {timeout:g} s") from exc
        except Exception:  # the replica died mid-batch, or the request could not reach one
            try:
                return self._handle.embed.remote((item, live)).result(timeout_s=timeout)
            except Exception as again:
                raise ClusterGone(str(again).splitlines()[0][:200] if str(again) else type(again).__name__) from again

    def _lose(self, exc: Exception) -> None:
        """Say once that the cluster does not answer, and ask it in the background until it does:
        meanwhile no request waits on it (a replica being replaced is back within seconds; a
        cluster that is gone stays gone, and nothing waits on it)."""
        with self._lock:
            if self._gone:
                return
            self._gone = True
        where = sentence_start(describe(self._address))
        self._say(f"{where} does not answer ({exc}): " + ("the networks run on this machine until it does."
                                                         if self._options.fallback else "requests that need the networks are refused until it does."))
        threading.Thread(target=self._probe, name=f"teachable-ray-probe-{self.id}", daemon=True).start()

    def _probe(self) -> None:
        """Every PROBE_S seconds, one empty request (a replica answers it with an error at once):
        an answer of any kind means the cluster is back."""
        while True:
            time.sleep(PROBE_S)
            try:
                self._handle.embed.remote((b"", False)).result(timeout_s=self._options.timeout_s)
            except Exception:
                continue
            self._gone = False
            self._say(f"{sentence_start(describe(self._address))} answers again: the networks run there again.")
            return

    def embed_one(self, source) -> np.ndarray:
        answer = self.embed_frames([source], REQUEST)[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def recording_embeddings(self, source) -> tuple[np.ndarray, list[float]]:
        """A sound model's whole recording: cut here as on one machine, its windows embedded there."""
        from ..embed.audio import load_audio, split_clips

        clips = split_clips(load_audio(portable(source, self.id)))
        return self.embed_many(clips)[0], [float(i) for i in range(len(clips))]


def use_ray(address: str, options: ServeOptions | None = None, say: Callable[[str], None] | None = None,
            num_cpus: int | None = None) -> Callable[[str, str], RayBackbone | None]:
    """Join the cluster and route the image and sound backbones to their deployments (each
    deployed when first needed). Returns the route (also installed)."""
    options = options or ServeOptions()
    say = say or (lambda message: print(message, file=sys.stderr))
    connect(address, num_cpus)
    backbones: dict[str, RayBackbone] = {}
    lock = threading.Lock()

    def route(backbone_id: str, device: str) -> RayBackbone | None:
        if backbone_id not in ROUTED:
            return None
        with lock:
            if backbone_id not in backbones:
                try:
                    handle = deploy(backbone_id, options)
                except Exception as exc:
                    raise ClusterUnavailableError(f"Cannot start the {backbone_id} deployment on {describe(address)}: "
                                                  f"{str(exc).splitlines()[0][:300]}") from None
                backbones[backbone_id] = RayBackbone(backbone_id, device, handle, options, address, say)
            return backbones[backbone_id]

    route_backbones(route)
    return route


def stop_routing() -> None:
    """Back to local backbones (the cluster itself is left as it is)."""
    route_backbones(None)
