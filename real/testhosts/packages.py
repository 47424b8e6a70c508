"""The Debian packages real-mode tests need, installed when missing.

A fresh machine has none of them; CI runs as root, so the test set-up installs what
is missing with apt-get (Debian's ``docker.io`` for dockerd, ``busybox-static`` for
the locally built image, ``nftables`` and ``iproute2`` for the test hosts' network)
rather than assuming a developer installed them by hand.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping

#: The command each package provides, by package.
PACKAGES: Mapping[str, str] = {
    "docker.io": "dockerd",
    "busybox-static": "busybox",
    "nftables": "nft",
    "iproute2": "ip",
}
#: Where ``busybox-static`` puts its one binary.
BUSYBOX = "/bin/busybox"
#: Held while one process checks and installs (any user may create it).
INSTALL_LOCK = os.path.join(tempfile.gettempdir(), "shoal-packages.lock")


class Unavailable(Exception):
    """What real-mode tests need cannot be had here (not root, no apt-get)."""


def missing(packages: Mapping[str, str] = PACKAGES) -> list[str]:
    """The packages whose command is not on PATH (nor in /usr/sbin, /sbin)."""
    path = os.pathsep.join((os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"))
    return [
        name
        for name, command in sorted(packages.items())
        if shutil.which(command, path=path) is None
    ]


def ensure_root() -> None:
    """Raise :class:`Unavailable` unless root: namespaces, nft and dockerd need it."""
    if os.geteuid() != 0:
        raise Unavailable("not root: real-mode tests need root (namespaces, nftables, dockerd)")


def ensure(packages: Mapping[str, str] = PACKAGES) -> None:
    """Install what is missing, or raise :class:`Unavailable` saying why not.

    One process at a time: every pytest-xdist worker's session asks at once on a
    fresh machine, and a second ``apt-get`` fails on the first one's lock (which
    skipped 114 real-mode tests of a clean run). The others wait here, then find
    the packages there."""
    wanted = missing(packages)
    if not wanted:
        return
    if os.geteuid() != 0:  # before the lock: root made it, and only root installs
        raise Unavailable(
            f"not root: cannot install {', '.join(wanted)} (real-mode tests need root)"
        )
    with open(INSTALL_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _install(missing(packages), packages)


def _install(wanted: list[str], packages: Mapping[str, str]) -> None:
    if not wanted:
        return  # another process installed them while this one waited
    if shutil.which("apt-get") is None:
        raise Unavailable(f"no apt-get to install {', '.join(wanted)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *wanted],
    ):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise Unavailable(f"{' '.join(argv)} failed: {done.stderr.strip()[-2000:]}")
    still = missing(packages)
    if still:
        raise Unavailable(f"installed, yet still missing: {', '.join(still)}")
