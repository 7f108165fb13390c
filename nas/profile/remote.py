"""Latency tables measured on other machines of a Ray cluster.

A device joins the cluster advertising a custom resource (``ray start --address=HEAD --resources='{"device:pi5":
1}'``); :func:`profile_on` runs :func:`profile_here` as a Ray task that needs one unit of that resource, so it lands
on that node, times the space with the node's own runtime (PyTorch CPU or CUDA, ONNX Runtime) and sends the table
back as JSON for the driver to write. Several devices profile at once, one task each. The device's node needs the
project installed in the Python its Ray runs.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.profile.tables import default_table_path, profile_table
from nas.profile.timers import create_timer
from nas.profile.validation import validate_table
from nas.workers.cluster import connect_ray, import_ray
from search_spaces import ConfigError, NasError, get_space

__all__ = ["DEVICE_PREFIX", "ProfileRequest", "device_resources", "profile_here", "profile_on", "remote_table_path"]

DEVICE_PREFIX = "device:"
"""The conventional prefix of the custom resource a device advertises (``device:pi5``)."""


@dataclass(frozen=True)
class ProfileRequest:
    """What to profile, as ``nas profile`` takes it: the space, the runtime and the timer's settings."""

    space: str
    device: str = "cpu"
    batch: int = 1
    num_classes: int = 1000
    calibration: int = 40
    seed: int = 0
    threads: int | None = None
    cuda_graphs: bool = False
    timer_options: Mapping[str, Any] = field(default_factory=dict)
    validate: int = 0


def profile_here(request: ProfileRequest, resource: str | None = None) -> dict[str, Any]:
    """Profile (and validate, when asked) on this machine; the table as JSON, its ``machine`` naming the host and,
    in a Ray task, the cluster resource it was profiled through and the Ray node."""
    space = get_space(request.space)
    timer = create_timer(
        request.device, request.threads, cuda_graphs=request.cuda_graphs, **dict(request.timer_options)
    )
    table = profile_table(space, timer, request.batch, request.num_classes, request.calibration, request.seed, False)
    if request.validate:
        validate_table(table, space, timer, request.validate, request.seed + 1, progress=False)
    table.machine["host"] = socket.gethostname()
    if resource is not None:
        table.machine["ray_resource"] = resource
        table.machine["ray_node"] = import_ray().get_runtime_context().get_node_id()
    return table.to_dict()


def device_resources(available: Mapping[str, float]) -> list[str]:
    """The device resources a cluster advertises (``device:*``), sorted."""
    return sorted(name for name in available if name.startswith(DEVICE_PREFIX))


def profile_on(
    resources: Sequence[str], request: ProfileRequest, address: str | None = None
) -> dict[str, dict[str, Any]]:
    """Profile ``request`` on every node advertising one of ``resources``, all at once; the tables by resource.

    Connects to the cluster at ``address`` unless this process already runs Ray. A resource the cluster does not
    advertise is refused before anything runs, naming the ones it does.
    """
    if not resources:
        raise ConfigError("name at least one device resource to profile on", field="on", value=list(resources))
    ray = import_ray()
    if not ray.is_initialized():
        if address is None:
            raise ConfigError("profiling on a device needs --ray-address HOST:PORT", field="ray_address", value=None)
        connect_ray(address)
    advertised = ray.cluster_resources()
    for resource in resources:
        if resource not in advertised:
            devices = device_resources(advertised)
            raise ConfigError(
                f"no node of the Ray cluster advertises resource {resource!r}; it advertises "
                + (", ".join(devices) if devices else f"no {DEVICE_PREFIX}* resource"),
                field="on",
                value=resource,
                allowed=devices,
            )
    task = ray.remote(profile_here)
    futures = {
        resource: task.options(num_cpus=0, resources={resource: 1}, max_retries=0).remote(request, resource)
        for resource in resources
    }
    tables: dict[str, dict[str, Any]] = {}
    for resource, future in futures.items():
        try:
            tables[resource] = ray.get(future)
        except ray.exceptions.RayError as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[-1]
            raise NasError(f"profiling on {resource!r} failed: {first}") from None
    return tables


def remote_table_path(resource: str, request: ProfileRequest, root: str | Path = "runs/latency") -> Path:
    """``runs/latency/<device>/<runtime>-<space>-b<batch>.json``, ``<device>`` the resource without ``device:``."""
    label = resource.removeprefix(DEVICE_PREFIX).replace("/", "_").replace(":", "_") or "device"
    return default_table_path(request.device, request.space, request.batch, Path(root) / label)
