"""Joining (or starting) the Ray cluster a ``--ray ADDRESS`` option names."""

from __future__ import annotations

import logging
import os
import threading

from ..errors import ClusterUnavailableError, MissingDependencyError

INSTALL = "pip install 'teachable[ray]'"
_lock = threading.Lock()


def require_ray():
    """The ``ray`` module, or one sentence saying which extra to install."""
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # gRPC's own lines about fork() are not for users
    os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")  # a lost cluster is never replaced by a new local one
    # Ray ends a driver that cannot reach the cluster's head for 60 s (measured): that would end the
    # server, which answers from this machine meanwhile (serving.RayBackbone) and waits for the
    # cluster instead. Always set: no value of it is right for a server.
    os.environ["RAY_gcs_rpc_server_reconnect_timeout_s"] = str(10**8)
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(f"--ray needs Ray, which is not installed: install it with `{INSTALL}`.") from None
    return ray


def describe(address: str) -> str:
    return "a local Ray cluster on this machine" if address == "local" else f"the Ray cluster at {address}"


def connect(address: str, num_cpus: int | None = None) -> None:
    """Join ``address`` once per process: ``local`` starts a cluster on this machine (``num_cpus``:
    how many cores it may use; all by default), ``auto`` joins the one ``ray start`` made here,
    ``ray://host:port`` a remote one (Ray Client). Quiet: Ray's own logs stay in its log folder."""
    if address != "local" and "RAY_AUTH_MODE" not in os.environ and _token_available():
        # the token `ray start` made: Ray presents it by itself only for "auto" (read when Ray is imported)
        os.environ["RAY_AUTH_MODE"] = "token"
    ray = require_ray()
    with _lock:
        if ray.is_initialized():
            return
        # Ray's usage reporting would try the network; the dashboard is not needed to serve.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        options = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False,
                   "configure_logging": False}
        # Teachable says what matters in its own words; Ray's own lines stay in its log folder
        for name in ("ray", "ray.data", "ray.serve"):
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            if address == "local":
                ray.init(address="local", num_cpus=num_cpus, **options)
            else:
                ray.init(address=address, **options)
        except Exception as exc:  # ConnectionError, a refused ray:// address, a bad address: all one sentence
            cause = exc.__cause__ or exc
            raise ClusterUnavailableError(f"Cannot use {describe(address)}: {str(exc).splitlines()[0][:200]}"
                                          + (f" ({str(cause).splitlines()[0][:200]})" if cause is not exc else "")) from None
        import ray.data

        ray.data.DataContext.get_current().enable_progress_bars = False  # Teachable shows its own
        for name in ("ray", "ray.data", "ray.serve"):  # (again: importing Ray Data set up its own loggers)
            logging.getLogger(name).setLevel(logging.ERROR)


def _token_available() -> bool:
    """Whether this machine holds a Ray cluster's authentication token (``ray start`` writes one)."""
    from pathlib import Path

    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or Path(path).is_file()


def has_gpus() -> bool:
    """Whether the cluster has a GPU anywhere (replicas then ask for one, and embed on it)."""
    ray = require_ray()
    return ray.cluster_resources().get("GPU", 0) > 0


def shutdown() -> None:
    ray = require_ray()
    with _lock:
        if ray.is_initialized():
            ray.shutdown()
