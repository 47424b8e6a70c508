"""Small helpers for named network namespaces, netlink sockets and sysctls.

The agent lives in its host's network namespace, which may be a test host's and not
the machine's root one: "here" always means the caller's namespace (a plain
``IPRoute()``), never ``/proc/1/ns/net``. Every other namespace is named (under
``/var/run/netns``) or a path (``/proc/<pid>/ns/net``), and is opened with
``flags=0`` so that a missing one is an error instead of being created silently
(pyroute2 creates by default).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from pyroute2 import IPRoute, config, netns
from pyroute2.netlink.exceptions import NetlinkError

NETNS_DIR = Path("/var/run/netns")

# pyroute2 opens a socket in another namespace from a forked child, which it ends with
# SIGTERM. A child of the daemon inherits asyncio's signal handling, whose wakeup fd
# it shares with the daemon: its SIGTERM reached the daemon's loop as the daemon's
# own, and the daemon shut down cleanly at the first overlay network. The child must
# take SIGTERM and SIGINT as a plain process does.
config.disable_mp_signal = True

T = TypeVar("T")


def path(name: str) -> str:
    """The file of a named namespace (a path is returned as is)."""
    return name if "/" in name else str(NETNS_DIR / name)


def exists(name: str) -> bool:
    return Path(path(name)).exists()


def listed(prefix: str) -> list[str]:
    """The named namespaces whose name starts with ``prefix``, sorted."""
    return sorted(str(n) for n in netns.listnetns() if str(n).startswith(prefix))


def create(name: str) -> None:
    """A new named namespace with its loopback up (the LB answers on it, and so do
    local sockets)."""
    netns.create(name)
    with socket(name) as ipr:
        (lo,) = ipr.link_lookup(ifname="lo")
        ipr.link("set", index=lo, state="up")


def remove(name: str) -> None:
    """Unmount and unlink a named namespace (its devices go when nothing holds it)."""
    if exists(name):
        netns.remove(name)


@contextlib.contextmanager
def socket(name: str | None = None) -> Iterator[IPRoute]:
    """A netlink socket in namespace ``name`` (name or path), or here if None."""
    ipr = IPRoute() if name is None else IPRoute(netns=name, flags=0)
    try:
        yield ipr
    finally:
        ipr.close()


def delete_link(name: str | None, ifname: str) -> None:
    """Delete ``ifname`` in namespace ``name`` (here if None) if both are there (a
    veth's peer goes with it)."""
    if name is not None and not exists(name):
        return
    with socket(name) as ipr:
        for index in ipr.link_lookup(ifname=ifname):
            with contextlib.suppress(NetlinkError):  # gone with its veth peer meanwhile
                ipr.link("del", index=index)


def run_in(name: str, action: Callable[[], T]) -> T:
    """``action()`` run by a thread that entered namespace ``name`` (name or path):
    sockets it opens and ``/proc/sys/net`` it reads belong to that namespace. Only that
    thread moves; the caller stays where it is."""
    result: list[T] = []
    error: list[BaseException] = []

    def body() -> None:
        try:
            netns.setns(path(name), flags=0)
            result.append(action())
        except BaseException as why:
            error.append(why)

    thread = threading.Thread(target=body, name=f"netns:{Path(name).name}")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def sysctl(key: str, value: str, name: str | None = None) -> None:
    """Set ``/proc/sys/<key>`` (``net/ipv4/ip_forward``) in namespace ``name`` (here if
    None); written only if it differs, so a reconcile that changes nothing writes
    nothing."""

    def write() -> None:
        file = Path("/proc/sys") / key
        if file.read_text().strip() != value:
            file.write_text(value)

    if name is None:
        write()
    else:
        run_in(name, write)
