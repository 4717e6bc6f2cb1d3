"""Which CPU runtime runs an ONNX network: OpenVINO where it is installed and runs, ONNX Runtime
otherwise.

Measured on a 2-core AMD EPYC (docs/benchmarks.md, "CPU runtimes"): OpenVINO runs the image
backbone 1.2x faster at batch 1 and 1.4x faster in bulk than ONNX Runtime, with features equal to
1e-5, so it replaces ONNX Runtime wherever ``openvino`` imports (x86-64 and ARM64 Linux, Windows,
macOS: the platforms PyPI has wheels for). Elsewhere, or with ``TEACHABLE_RUNTIME=onnxruntime``,
ONNX Runtime computes the same function.

bfloat16 (``precision="bf16"``) is offered only where the CPU runs it natively (AVX-512 BF16 or
AMX): twice as fast again, features within cosine 0.993 of float32. It is used for the live preview
only (see :mod:`teachable.embed.image`): everything stored, trained on, answered by the API or
exported stays float32.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from functools import lru_cache
from typing import Protocol

import numpy as np

PRECISIONS = ("fp32", "bf16")
RUNTIMES = ("openvino", "onnxruntime")


class CpuNetwork(Protocol):
    runtime: str
    precision: str

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Every output of the network for its input arrays, in the graph's order (the batch their
        first axis)."""


@lru_cache(maxsize=1)
def _openvino_core():
    """OpenVINO's runtime, or None where it is not installed, not wanted or cannot start."""
    if os.environ.get("TEACHABLE_RUNTIME", "").lower() == "onnxruntime":
        return None
    try:
        import openvino

        core = openvino.Core()
        if "CPU" not in core.available_devices:
            return None
        return core
    except Exception:  # not installed, or no plug-in for this CPU: ONNX Runtime instead
        return None


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # found once: a limit then costs ~20 µs, not ~400


def one_blas_thread():
    """A context in which NumPy's BLAS uses one thread. For the small products between network
    calls: a second BLAS thread spinning after them slows the next network call (a sound window's
    log-mel product took a window from 5.5 ms to 11 ms on 2 cores) and the head's training steps."""
    return _blas_controller().limit(limits=1, user_api="blas")


def runtime_name() -> str:
    """The runtime networks run on in this process."""
    return "openvino" if _openvino_core() is not None else "onnxruntime"


@lru_cache(maxsize=1)
def bf16_available() -> bool:
    """Whether this CPU runs bfloat16 natively (OpenVINO says so), so it is worth using."""
    core = _openvino_core()
    if core is None:
        return False
    try:
        return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:
        return False


_OPEN: "weakref.WeakSet[OpenVinoNetwork]" = weakref.WeakSet()


@atexit.register
def _release_all() -> None:
    """OpenVINO's compiled models are released before the interpreter shuts down: left to the end
    of the process, their worker threads can be torn down after the runtime that owns them, and
    the process then aborts ("terminate called without an active exception") after its work is done."""
    for network in list(_OPEN):
        network.release()


class OpenVinoNetwork:
    """An ONNX file compiled by OpenVINO for the CPU, for the lowest latency (one stream, every
    core). Safe to call from many threads; calls run one at a time through one infer request
    (a request per thread measured 60 MB of buffers each, and one call already uses every core)."""

    runtime = "openvino"

    def __init__(self, path: str, precision: str = "fp32", threads: int | None = None) -> None:
        core = _openvino_core()
        if core is None:
            raise RuntimeError("OpenVINO is not available")
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.precision = precision
        self._compiled = core.compile_model(path, "CPU", config)
        self._outputs = list(self._compiled.outputs)
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()
        _OPEN.add(self)

    def release(self) -> None:
        with self._lock:
            self._request = self._compiled = None

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        with self._lock:
            if self._request is None:
                raise RuntimeError("this network was released (the process is ending)")
            results = self._request.infer({i: np.ascontiguousarray(x, dtype=np.float32) for i, x in enumerate(inputs)})
            # The results are views of the request's own buffers, which its next call overwrites.
            return [np.array(results[output], dtype=np.float32, copy=True) for output in self._outputs]


class OnnxRuntimeNetwork:
    """The same ONNX file on ONNX Runtime's CPU provider (always float32)."""

    runtime = "onnxruntime"
    precision = "fp32"

    def __init__(self, path: str, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or max(1, min(os.cpu_count() or 1, 8))
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        return self._session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32) for name, x in zip(self._inputs, inputs)})


def cpu_network(path: str, precision: str = "fp32", threads: int | None = None) -> CpuNetwork:
    """The fastest runtime here for this ONNX file. bfloat16 is given only where the CPU has it;
    otherwise the network is float32 (so asking for bf16 is always safe)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}")
    if _openvino_core() is not None:
        try:
            return OpenVinoNetwork(path, precision if bf16_available() else "fp32", threads)
        except Exception:  # a network OpenVINO cannot compile: ONNX Runtime runs every one we ship
            pass
    return OnnxRuntimeNetwork(path, threads)
