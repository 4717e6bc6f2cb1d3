"""TensorFlow Lite from the page: the conversion takes from seconds to minutes, so it runs as a
job whose progress the page follows (the same steps `teachable export --format tflite` shows),
then its zip is fetched once. Both files, as the CLI makes them: the float model_unquant.tflite
and the quantised model.tflite, calibrated on the project's own photos."""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field

from fastapi import APIRouter, Request, Response

from ...errors import ConflictError, MissingDependencyError, NotFoundError, TeachableError
from ...model import Model
from ..deps import ProjectDep
from ..schemas import ERRORS, TfliteJobOut
from .models import model_bytes

CALIBRATION_PHOTOS = 100  # the CLI takes up to 500 given --calibration; the page keeps it quick
KEEP_SECONDS = 600  # a finished job's zip waits this long to be fetched

router = APIRouter(prefix="/api/projects/{project_id}/models/current/tflite", tags=["models"], responses=ERRORS)


@dataclass
class TfliteJob:
    id: str
    project_id: str
    state: str = "running"  # running | done | failed
    step: str = "starting"
    done: int = 0
    total: int = 0
    error: str | None = None
    data: bytes | None = field(default=None, repr=False)
    finished: float = 0.0

    def to_dict(self) -> dict:
        return {"id": self.id, "state": self.state, "step": self.step, "done": self.done, "total": self.total,
                "error": self.error}


class TfliteJobs:
    """The app's conversions, one at a time per project; finished zips kept a while to be fetched."""

    def __init__(self) -> None:
        self._jobs: dict[str, TfliteJob] = {}
        self._lock = threading.Lock()

    def start(self, project_id: str, work) -> TfliteJob:
        with self._lock:
            now = time.monotonic()
            for key in [k for k, j in self._jobs.items() if j.finished and now - j.finished > KEEP_SECONDS]:
                del self._jobs[key]
            if any(j.project_id == project_id and j.state == "running" for j in self._jobs.values()):
                raise ConflictError("A TensorFlow Lite conversion of this project is already running; wait for it.")
            job = TfliteJob(uuid.uuid4().hex, project_id)
            self._jobs[job.id] = job
        threading.Thread(target=self._run, args=(job, work), name="teachable-tflite", daemon=True).start()
        return job

    def _run(self, job: TfliteJob, work) -> None:
        def progress(step: str, done: int, total: int) -> None:
            job.step, job.done, job.total = step, done, total

        try:
            job.data = work(progress)
            job.state = "done"
        except TeachableError as exc:
            job.error, job.state = str(exc), "failed"
        except Exception as exc:  # reported to the page instead of hanging it
            traceback.print_exc()
            job.error, job.state = f"The conversion failed unexpectedly: {exc}", "failed"
        finally:
            job.finished = time.monotonic()

    def get(self, project_id: str, job_id: str) -> TfliteJob:
        job = self._jobs.get(job_id)
        if job is None or job.project_id != project_id:
            raise NotFoundError("There is no such conversion (it may have finished long ago).")
        return job


def _calibration(h) -> list:
    """The project's own photos, prepared as the network sees them (at most CALIBRATION_PHOTOS, spread over the classes)."""
    from ...embed.preprocess import prepare

    samples = [s for s in h.project.samples() if not s.test]
    step = max(1, len(samples) // CALIBRATION_PHOTOS)
    out = []
    for sample in samples[::step][:CALIBRATION_PHOTOS]:
        try:
            out.append(prepare(h.project.sample_bytes(sample.id)))
        except TeachableError:
            continue
    return out


@router.post("", status_code=202, response_model=TfliteJobOut)
def start_tflite(project_id: str, h: ProjectDep, request: Request) -> dict:
    """Start converting the current image model to TensorFlow Lite (model_unquant.tflite and the
    quantised model.tflite, calibrated on the project's photos); follow it with GET …/{job_id}."""
    from ...export.bundle import bundle_zip
    from ...export.tflite import tflite_available

    if h.project.kind != "image":
        raise ConflictError(f"TensorFlow Lite export is for image projects; this is a {h.project.kind} project.")
    if not tflite_available():
        raise MissingDependencyError("TensorFlow Lite export needs the converter, an optional extra: "
                                     "pip install 'teachable[tflite]' (then restart teachable serve).")
    data = model_bytes(h, "current")
    name = h.project.name

    def work(progress) -> bytes:
        return bundle_zip(Model.from_bytes(data), "tflite", _calibration(h), model_name=name, on_progress=progress)

    return request.app.state.tflite_jobs.start(project_id, work).to_dict()


@router.get("/{job_id}", response_model=TfliteJobOut)
def tflite_status(project_id: str, job_id: str, h: ProjectDep, request: Request) -> dict:
    return request.app.state.tflite_jobs.get(project_id, job_id).to_dict()


@router.get("/{job_id}/file", response_class=Response)
def tflite_file(project_id: str, job_id: str, h: ProjectDep, request: Request) -> Response:
    job = request.app.state.tflite_jobs.get(project_id, job_id)
    if job.state != "done" or job.data is None:
        raise ConflictError("The conversion has not finished." if job.state == "running" else (job.error or "The conversion failed."))
    return Response(job.data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{project_id}-tflite.zip"'})
