"""Prediction: classify sent images or sounds, and the live preview's WebSocket."""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from ...embed.queue import LIVE, REQUEST, Superseded
from ...errors import InvalidImageError, NothingDetectedError, TeachableError
from ..deps import Images, ImagesDep, ProjectDep
from ..limits import LIVE_IDLE_S, MAX_LIVE_STREAMS, MAX_WS_FRAME_BYTES
from ..projects import OpenProject
from ..schemas import ERRORS, PredictionsOut

router = APIRouter(prefix="/api/projects/{project_id}", tags=["prediction"], responses=ERRORS)


async def embed_all(h: OpenProject, images: Images) -> tuple[np.ndarray, list[dict]]:
    """Embeddings of the images, and for pose and hand projects the skeletons found in them.
    Images and sounds go through the backbone's inference queue, behind live frames."""
    backbone = await asyncio.to_thread(h.backbone)
    if h.project.rules.keypoints:
        pairs = await asyncio.to_thread(images.each, backbone.embed_with_landmarks)
        return np.stack([vector for vector, _ in pairs]), [landmarks.to_dict() for _, landmarks in pairs]
    results = await asyncio.gather(*(asyncio.wrap_future(backbone.queue.submit(image, priority=REQUEST)) for image in images),
                                   return_exceptions=True)
    for index, result in enumerate(results):
        if isinstance(result, InvalidImageError):
            raise images.named(index, result)
        if isinstance(result, BaseException):
            raise result
    return np.stack(results), []


@router.post("/predict", response_model=PredictionsOut, response_model_exclude_none=True)
async def predict(h: ProjectDep, images: ImagesDep, source: Literal["model", "live"] = "model",
                  explain: bool = False, k: Annotated[int, Query(ge=1, le=20)] = 3) -> dict:
    """Classify images (or sounds, in a sound project) with the project's current model
    (`source=live`: what the preview uses). `explain=true`: each prediction also names the `k`
    training samples it resembles most (`neighbours`).

    Send multipart files (any field name) or JSON `{"image": base64}` / `{"images": [...]}`."""
    # Everything slow runs off the event loop; the model first, so one that cannot load costs
    # no embedding.
    model = await asyncio.to_thread(h.current_model) if source == "model" else None
    if h.project.rules.audio:  # each recording answered whole, from its one-second windows
        backbone = await asyncio.to_thread(h.backbone)
        recordings = await asyncio.to_thread(images.each, backbone.recording_embeddings)
        if model is None:
            model = await asyncio.to_thread(h.live_model)
        predictions = [await asyncio.to_thread(model.predict_recording, vectors, starts, explain, k)
                       for vectors, starts in recordings]
        return {"predictions": [p.to_dict() for p in predictions]}
    embeddings, found = await embed_all(h, images)
    if model is None:
        model = await asyncio.to_thread(h.live_model)
    # Off the event loop: the neighbour search of an explanation reads the model's whole memory.
    predictions = await asyncio.to_thread(model.predict_embeddings, embeddings, explain, k)
    replies = [p.to_dict() for p in predictions]
    for reply, landmarks in zip(replies, found):
        reply["landmarks"] = landmarks
    return {"predictions": replies}


class LatestFrame:
    """Frames that arrive while one is processed replace each other: only the newest is used,
    so a slow server never builds a queue."""

    def __init__(self) -> None:
        self.frame: tuple[bytes, float] | None = None
        self.dropped = 0
        self.closed = False
        self.ready = asyncio.Event()

    def put(self, frame: bytes) -> None:
        if self.frame is not None:
            self.dropped += 1
        self.frame = (frame, time.perf_counter())
        self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.ready.set()

    async def take(self) -> tuple[bytes, float] | None:
        """The newest frame, or None once the stream has ended."""
        while True:
            await self.ready.wait()
            self.ready.clear()
            if self.closed:
                return None
            item, self.frame = self.frame, None
            if item is not None:
                return item


async def receive_frames(websocket: WebSocket, frames: LatestFrame) -> None:
    try:
        while True:
            try:
                message = await asyncio.wait_for(websocket.receive(), LIVE_IDLE_S)
            except TimeoutError:  # idle, or a message begun and never finished: free its buffer
                await websocket.close(code=4408, reason=f"No frame for {LIVE_IDLE_S:.0f} s.")
                break
            if message["type"] == "websocket.disconnect":
                break
            frame = message.get("bytes")
            if frame is None:
                continue
            if len(frame) > MAX_WS_FRAME_BYTES:
                await websocket.send_json({"error": f"Frames must be at most {MAX_WS_FRAME_BYTES:,} bytes."})
                continue
            frames.put(frame)
    finally:
        frames.close()


@router.websocket("/live")
async def live(websocket: WebSocket, project_id: str, mode: Literal["predict", "landmarks"] = "predict",
               explain: bool = False):
    """Send JPEG frames (sound projects: one-second WAV clips) as binary messages; receive
    `{label, confidences, ms, dropped}` per frame processed (only the newest frame is used).

    Pose and hand projects add `landmarks` (`{points: [[x, y, visibility], ...]}`, x and y
    as fractions of the frame) and follow the person from frame to frame (MediaPipe's video
    mode); a frame with nobody (no hand) in view has no points and `nobody: true`, and is
    answered with the class trained on such frames (or `nothing_detected` when there is none). With `?mode=landmarks` only the landmarks come back (the capture view uses it
    before anything can be classified). With `?explain=true` each reply names the three samples
    the frame resembles most (`neighbours`), as `POST …/predict?explain=true` does."""
    await websocket.accept()
    streams = websocket.app.state.live_streams
    if streams[0] >= MAX_LIVE_STREAMS:
        await websocket.send_json({"error": f"The server is showing {MAX_LIVE_STREAMS} live previews already; "
                                            "try again in a moment."})
        await websocket.close(code=1013)  # try again later
        return
    streams[0] += 1
    try:
        await _live(websocket, project_id, mode, explain)
    finally:
        streams[0] -= 1


async def _live(websocket: WebSocket, project_id: str, mode: str, explain: bool) -> None:
    try:
        h: OpenProject = websocket.app.state.registry.get(project_id)
        backbone = await asyncio.to_thread(h.backbone)
    except TeachableError as exc:
        await websocket.send_json({"error": str(exc)})
        await websocket.close(code=4404)
        return
    keypoints = h.project.rules.keypoints
    tracking = ExitStack()  # a video-mode landmark detector for this stream (None: all are in use)
    tracker = await asyncio.to_thread(tracking.enter_context, backbone.tracker()) if keypoints else None
    frames = LatestFrame()
    receiver = asyncio.create_task(receive_frames(websocket, frames))
    try:
        while (item := await frames.take()) is not None:
            if h.closed:  # deleted or renamed meanwhile: this stream has nothing left to show
                await websocket.send_json({"error": "This project was closed (renamed or deleted); reopen it."})
                await websocket.close(code=4410)
                break
            frame, received = item
            reply: dict = {}
            try:
                if keypoints:
                    embedding, landmarks = await asyncio.to_thread(backbone.embed_with_landmarks, frame, tracker)
                    reply["landmarks"] = landmarks.to_dict()
                    if landmarks.nobody:  # a sample like any other now; the page says so while recording
                        reply["nobody"] = True
                else:  # one queue for every stream: batched, fair, live first
                    embedding = await asyncio.wrap_future(backbone.queue.submit(frame, key=frames, priority=LIVE))
                if mode == "predict":
                    [prediction] = await asyncio.to_thread(h.predict_embeddings, embedding[None], explain)
                    reply.update(prediction.to_dict())
                reply.update(ms=round((time.perf_counter() - received) * 1000, 1), dropped=frames.dropped)
            except Superseded:  # cannot happen with one frame in flight per stream; skip it if it does
                continue
            except NothingDetectedError as exc:  # nobody in view, and the model learnt no class for it
                reply = {"error": str(exc), "nothing_detected": True, "nobody": True, "landmarks": reply.get("landmarks")}
            except TeachableError as exc:
                reply["error"] = str(exc)
            await websocket.send_json(reply)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        receiver.cancel()
        tracking.close()
