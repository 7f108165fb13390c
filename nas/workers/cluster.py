"""The Ray cluster a search evaluates on: an embedded single-machine Ray bound to 127.0.0.1, or a running cluster
joined by address (which fails fast when nothing answers there)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from search_spaces import ConfigError, NasError
from search_spaces.checks import check_count

__all__ = ["BACKENDS", "LOOPBACK_HOSTS", "connect_ray", "import_ray", "start_local_ray"]

logger = logging.getLogger(__name__)

BACKENDS = ("ray", "local")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "backend 'ray' needs the ray package: install it (pip install 'ray>=2.30') or use backend 'local'",
            field="backend",
            value="ray",
            allowed=list(BACKENDS),
        ) from None
    return ray


@contextmanager
def _loopback_node_ip() -> Iterator[None]:
    """Let ``_node_ip_address="127.0.0.1"`` stand during ``ray.init``.

    Ray replaces a loopback node address by the machine's routable one unless its single-machine switch
    (``ENABLE_RAY_CLUSTER``, env ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER``, read at import) is off; with the node on
    127.0.0.1 the GCS, raylet, workers and agents all listen on loopback only.
    """
    try:
        from ray._private import ray_constants
    except ImportError:  # pragma: no cover - a Ray without the switch; checked after init
        yield
        return
    previous = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    if previous is None:  # pragma: no cover
        yield
        return
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = previous


def start_local_ray(num_cpus: int, *, num_gpus: int | None = None, runtime_env: dict[str, Any] | None = None) -> None:
    """Start an embedded single-machine Ray bound to 127.0.0.1, unless this process already runs Ray.

    Nothing listens on a public interface and there is no dashboard; the driver logs Ray warnings only, and
    worker output (tracebacks included) still reaches it. ``runtime_env`` is passed on to ``ray.init``.
    """
    check_count("num_cpus", num_cpus, 1)
    if num_gpus is not None:
        check_count("num_gpus", num_gpus, 0)
    ray = import_ray()
    if ray.is_initialized():
        logger.debug("Ray already runs in this process; start_local_ray does nothing")
        return
    with _loopback_node_ip():
        ray.init(
            address="local",  # always a new embedded instance, never a cluster found on the machine
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            include_dashboard=False,
            logging_level=logging.WARNING,
            ignore_reinit_error=True,
            runtime_env=runtime_env,
            _node_ip_address="127.0.0.1",
        )
    host = ray.get_runtime_context().gcs_address.rpartition(":")[0].strip("[]")
    if host not in LOOPBACK_HOSTS:
        logger.warning("local Ray could not be bound to 127.0.0.1; it listens on %s", host)


def _parse_host_port(address: str) -> tuple[str, int] | None:
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or "/" in host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def _probe(address: str, host: str, port: int, timeout: float) -> None:
    """Fail fast when nothing (or nothing that speaks gRPC) answers at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise NasError(f"no Ray cluster reachable at {address} ({exc})") from None
    if os.environ.get("RAY_USE_TLS", "0") not in ("", "0"):
        return
    try:
        import grpc
    except ImportError:  # pragma: no cover - grpcio ships with ray
        return
    channel = grpc.insecure_channel(address)
    try:  # any gRPC answer (even UNAUTHENTICATED or UNIMPLEMENTED) shows a live server; silence does not
        channel.unary_unary("/ray.rpc.NodeInfoGcsService/GetClusterId")(b"", timeout=timeout)
    except grpc.RpcError as exc:
        code = exc.code() if callable(getattr(exc, "code", None)) else None
        details = exc.details() if callable(getattr(exc, "details", None)) else ""
        silent = code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        if silent or "http2 header with status" in (details or ""):  # the latter: an HTTP server, not gRPC
            answer = code.name if code is not None else "no answer"
            raise NasError(
                f"{address} accepts connections but no Ray head answers there ({answer}; {timeout:g} s)"
            ) from None
    finally:
        channel.close()


def connect_ray(address: str, *, timeout: float = 5.0) -> None:
    """Connect this process to a running Ray cluster: ``"auto"`` (found on this machine) or ``"HOST:PORT"``.

    A HOST:PORT that does not answer fails within ``timeout`` seconds with a NasError instead of hanging. A
    cluster on 127.0.0.1 is joined on 127.0.0.1 (Ray by itself rewrites a loopback address to the machine's
    routable one, where such a cluster does not listen).
    """
    parsed = _parse_host_port(address) if isinstance(address, str) else None
    if address != "auto" and parsed is None:
        raise ConfigError(
            f"ray address {address!r} is neither 'auto' nor HOST:PORT (e.g. 10.0.0.5:6379)",
            field="address",
            value=address,
            allowed=["auto", "HOST:PORT"],
        )
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ConfigError(f"timeout must be a number of seconds > 0, got {timeout!r}", field="timeout", value=timeout)
    ray = import_ray()
    if ray.is_initialized():
        raise NasError("Ray already runs in this process; call ray.shutdown() before connect_ray")
    if parsed is None:
        target = os.environ.get("RAY_ADDRESS", "")
        parsed = _parse_host_port(target)
    else:
        target = address
    if parsed is not None:
        _probe(target, *parsed, timeout)
    loopback = parsed is not None and parsed[0] in LOOPBACK_HOSTS
    try:
        with _loopback_node_ip() if loopback else contextlib.nullcontext():
            ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        hint = ""
        if address != "auto" and "RAY_AUTH_MODE" not in os.environ:  # Ray sends its token only when told to
            hint = "; if the cluster uses token authentication, set RAY_AUTH_MODE=token here"
        raise NasError(f"cannot connect to the Ray cluster at {address!r}: {first}{hint}") from None
