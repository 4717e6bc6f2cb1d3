"""Open projects shared by all requests, and the background work attached to each.

Opening a project file costs little, but embedding and training are slow: each open project
gets one background thread that embeds new samples as they arrive (so Train rarely waits),
and at most one training job at a time whose progress any page can poll.
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConflictError, NotEnoughClassesError, TeachableError
from ..explain.memory import sample_source
from ..model import Model, Prediction
from ..project import Project
from ..workspace import Workspace
from ..training import fit


@dataclass
class TrainingJob:
    """The state of one training run, as the page shows it."""

    state: str = "idle"  # idle | embedding | training | done | failed
    settings: dict = field(default_factory=dict)
    epoch: int = 0
    epochs: int = 0
    embedded: int = 0
    to_embed: int = 0
    history: list[dict] = field(default_factory=list)
    error: str | None = None
    started: float = 0.0
    finished: float = 0.0
    model_id: int | None = None
    report: dict | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class OpenProject:
    """One open project with its embedding worker, training job and live predictor."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._version = 0  # bumps whenever samples, embeddings or the model change
        self._version_lock = threading.Lock()
        self.job = TrainingJob()
        interrupted = project.interrupted_training()
        if interrupted:
            self.job = TrainingJob(state="failed", error=interrupted)
        self._wake = threading.Event()
        self._closed = False
        self._job_lock = threading.Lock()
        self._live_lock = threading.Lock()
        self._live: tuple[int, Model] | None = None
        self._model_lock = threading.Lock()
        self._model_cache: tuple[int | None, Model | TeachableError] | None = None
        self._review_lock = threading.Lock()
        self._review: tuple[str, object] | None = None  # (the project's state digest, its review)
        self.reviews_run = 0
        self._embedder = threading.Thread(target=self._embed_loop, name="teachable-embedder", daemon=True)
        self._embedder.start()
        self._wake.set()

    # -- background embedding -----------------------------------------------------------------
    @property
    def version(self) -> int:
        return self._version

    def bump(self) -> None:
        """Something the pages show changed (several threads do this: the lock keeps every bump)."""
        with self._version_lock:
            self._version += 1

    def samples_changed(self) -> None:
        self.bump()
        self._wake.set()

    def _embed_loop(self) -> None:
        while not self._closed:
            self._wake.wait(timeout=5)
            self._wake.clear()
            if self._closed:
                return
            try:
                if self.project.ensure_embeddings(on_progress=lambda n: None):
                    self.bump()
            except Exception:  # keep the worker alive; training reports embedding problems itself
                traceback.print_exc()
                time.sleep(1)

    def pending_embeddings(self) -> int:
        return len(self.project.missing_embeddings())

    # -- training -----------------------------------------------------------------------------
    def start_training(self, settings: dict) -> TrainingJob:
        with self._job_lock:
            if self.training:
                raise ConflictError("This project is already training; wait for it to finish.")
            self.project.rules.check_counts(self.project.classes())
            self.project.check_not_training()  # a CLI run of `teachable project train`, say
            # Saved only now: a refused request changes nothing.
            merged = self.project.update_settings(**settings) if settings else self.project.settings
            self.job = TrainingJob(state="embedding", settings=merged, epochs=int(merged["epochs"]), started=time.time())
            job = self.job
        threading.Thread(target=self._train, args=(job,), name="teachable-train", daemon=True).start()
        return job

    def _train(self, job: TrainingJob) -> None:
        try:
            job.to_embed = self.pending_embeddings()

            def on_embed(n: int) -> None:
                job.embedded += n

            def on_epoch(stats) -> None:
                job.state = "training"
                job.epoch = stats.epoch
                job.history.append(stats.to_dict())

            model = self.project.train(on_epoch=on_epoch, on_embed_progress=on_embed, **job.settings)
            job.model_id = self.project.models()[-1].id
            job.report = model.report.to_dict() if model.report else None
            job.notes = list(model.notes)
            job.state = "done"
        except TeachableError as exc:
            job.error, job.state = str(exc), "failed"
        except Exception as exc:  # reported to the page instead of hanging it
            traceback.print_exc()
            job.error, job.state = f"Training failed unexpectedly: {exc}", "failed"
        finally:
            job.finished = time.time()
            self.bump()

    # -- review -------------------------------------------------------------------------------
    def review(self):
        """The project's review, computed once per state of the project: requests that arrive while
        one runs wait for it and share its answer (six at once of a 5,000-sample project took 2.4 GB
        and 79 s, each computing the same). The state is read from the file
        (:meth:`Project.review_state`), so changes by other processes count too."""
        from ..explain.samples import review_project

        self.project.ensure_embeddings()  # first, so the state below is the one reviewed
        with self._review_lock:
            state = self.project.review_state()
            if self._review is None or self._review[0] != state:
                self._review = (state, review_project(self.project))
                self.reviews_run += 1
            return self._review[1]

    # -- prediction ---------------------------------------------------------------------------
    def backbone(self):
        """The backbone for this project's kind (shared by all projects of that kind)."""
        rules = self.project.rules
        rules.check_backbone(self.project.backbone_id)
        return rules.backbone()

    def current_model(self) -> Model:
        """The current model, loaded once (slow: call it off the event loop). A model that
        failed to load is remembered, so a bad file costs its check once, not on every call."""
        with self._model_lock:
            current = self.project.current_model_id()
            if self._model_cache is None or self._model_cache[0] != current:
                try:
                    loaded: Model | TeachableError = self.project.model(current)
                except TeachableError as exc:
                    loaded = exc
                self._model_cache = (current, loaded)
            model = self._model_cache[1]
        if isinstance(model, TeachableError):
            raise type(model)(str(model))
        return model

    def live_model(self) -> Model:
        """What live preview uses: when the project is set to kNN, a kNN of every cached
        embedding (instant, and up to date as samples arrive), made by the same ``fit`` as any
        model; otherwise the trained model."""
        if self.project.settings["classifier"] != "knn":
            return self.current_model()
        with self._live_lock:
            if self._live is None or self._live[0] != self.version:
                version = self.version
                classes = self.project.classes()
                vectors, class_ids, sample_ids = self.project.embeddings()
                position = {c.id: i for i, c in enumerate(classes)}
                if len(classes) < 2 or len({position[c] for c in class_ids}) < len(classes):
                    raise NotEnoughClassesError("Live kNN needs at least one embedded sample in every class (and two classes).")
                y = np.array([position[c] for c in class_ids], np.int64)
                model = fit(vectors, y, [c.name for c in classes], self.project.backbone_id, self.project.kind,
                            classifier="knn", k=int(self.project.settings["k"]), validation_split=0,
                            sources=[sample_source(i) for i in sample_ids])
                self._live = (version, model)
            return self._live[1]

    def predict_embeddings(self, embeddings: np.ndarray, explain: bool = False) -> list[Prediction]:
        return self.live_model().predict_embeddings(embeddings, explain)

    @property
    def training(self) -> bool:
        return self.job.state in ("embedding", "training")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._embedder.join(timeout=10)
        self.project.close()


class ProjectRegistry:
    """Open projects by workspace id; each is opened once and shared."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._open: dict[str, OpenProject] = {}
        self._lock = threading.Lock()

    def get(self, project_id: str) -> OpenProject:
        with self._lock:
            if project_id not in self._open:
                self._open[project_id] = OpenProject(self.workspace.open(project_id))
            return self._open[project_id]

    def close(self, project_id: str) -> None:
        with self._lock:
            handle = self._open.pop(project_id, None)
        if handle is not None:
            handle.close()

    def close_all(self) -> None:
        for project_id in list(self._open):
            self.close(project_id)


class RunningImports:
    """The imports running in threads (a `.tm` can take minutes), so that shutting down stops each
    and waits for it to remove what it had built: uvicorn cancels requests after its grace period and
    then ends the process, which would leave half-built project files behind."""

    STOP_WAIT_S = 20.0

    def __init__(self) -> None:
        self._running: dict[object, object] = {}  # the work (an asyncio future) -> its stop event

    async def run(self, work, stop: threading.Event):
        """Await ``work``; a cancellation (shutdown) sets ``stop``, waits for the work to end and
        answers with ImportCancelled."""
        from ..tm.projects import ImportCancelled

        self._running[work] = stop
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:  # shutting down: stop the work, let it clean up, and say so
            stop.set()
            asyncio.current_task().uncancel()
            await asyncio.wait([work], timeout=self.STOP_WAIT_S)
            raise ImportCancelled("The server is shutting down: the import was stopped and nothing was kept.") from None
        finally:
            if work.done():
                self._running.pop(work, None)

    async def stop_all(self) -> None:
        for stop in self._running.values():
            stop.set()
        if self._running:
            await asyncio.wait(list(self._running), timeout=self.STOP_WAIT_S)
        self._running.clear()
