"""Ray exposure: the embedded Ray of the searches listens on loopback only, and no dashboard serves HTTP.

Sockets are read from ``/proc`` (every listening TCP socket and every bound UDP socket of this process's Ray
descendants: GCS, raylet, agents, workers and actors), so the check needs no third-party package."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from nas.workers.pool import EvaluationPool, EvaluatorSpec
from tests.reliability.helpers import descendants

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads sockets from Linux's /proc")

DASHBOARD_PORTS = {8265, 52365, 10001}  # dashboard HTTP, dashboard agent HTTP, Ray client server


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in (Path("/proc") / str(pid) / "fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _address(hex_address: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw[::-1]), int(port, 16)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))  # four host-order 32-bit words
    return ipaddress.IPv6Address(words), int(port, 16)


def bound_sockets() -> dict[str, tuple[str, Any, int]]:
    """inode -> (protocol, local address, port) of listening TCP and bound UDP sockets, IPv4 and IPv6."""
    sockets = {}
    for protocol, listening in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        path = Path("/proc/net") / protocol
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == listening:
                address, port = _address(fields[1])
                sockets[fields[9]] = (protocol, address, port)
    return sockets


def is_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def ray_listeners() -> list[tuple[int, str, str, Any, int]]:
    """(pid, command, protocol, address, port) of every socket a Ray descendant of this process listens on."""
    table = bound_sockets()
    found = []
    for pid in descendants(os.getpid()):
        try:
            command = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
        except OSError:
            continue
        for inode in socket_inodes(pid):
            if inode in table:
                found.append((pid, command, *table[inode]))
    return found


def test_parsing_sees_a_public_listener_as_public() -> None:
    """The reader itself: a socket this test binds to every interface is seen, and not as loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("0.0.0.0", 0))
        probe.listen()
        port = probe.getsockname()[1]
        mine = [entry for entry in bound_sockets().values() if entry[2] == port]
        assert mine and not any(is_loopback(address) for _, address, _ in mine)
    assert is_loopback(ipaddress.IPv6Address("::ffff:127.0.0.1")) and is_loopback(ipaddress.IPv6Address("::1"))


def test_embedded_ray_listens_on_loopback_only(ray_session: Any) -> None:
    with EvaluationPool(
        EvaluatorSpec("tests.nas.workers.test_workers:make_evaluator"), workers=1, cpus_per_worker=0.5
    ) as pool:
        pool.wait_ready(timeout=120)  # an actor process is up beside GCS, raylet, agents and idle workers
        listeners = ray_listeners()
    commands = " ".join(command for _, command, *_ in listeners)
    assert "gcs_server" in commands and "raylet" in commands, commands
    assert len({pid for pid, *_ in listeners}) >= 3
    public = [entry for entry in listeners if not is_loopback(entry[3])]
    assert not public, f"listening beyond loopback: {public}"
    assert not [entry for entry in listeners if entry[4] in DASHBOARD_PORTS]
    assert ray_session.get_runtime_context().gcs_address.startswith("127.0.0.1:")


def test_no_dashboard_serves_http(ray_session: Any) -> None:
    """Ray keeps a minimal dashboard process for its own bookkeeping; it must run without web UI or HTTP port."""
    for pid in descendants(os.getpid()):
        try:
            arguments = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(argument.endswith(b"dashboard/dashboard.py") for argument in arguments):
            assert b"--minimal" in arguments and b"--disable-frontend" in arguments, arguments
            listening = {inode for inode in socket_inodes(pid) if inode in bound_sockets()}
            assert not listening, "the dashboard process listens"
