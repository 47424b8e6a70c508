"""Remove everything a run made, found by its names alone.

:func:`remove_run` is the last step of every orderly close, and what :func:`sweep` does to
each run whose owner process is gone (a crashed or interrupted pytest): kill the run's
processes (by namespace, by environment tag, by container cgroup), delete its namespaces
(which deletes its veths, bridge and nft tables with them), its cgroups, its mounts and its
temp dir. Live runs of other processes (parallel pytest-xdist workers) are never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from real.testhosts import procs
from real.testhosts.firewall import tables
from real.testhosts.naming import ENV_TAG, PREFIX, RunId
from real.testhosts.network import links, namespaces, netns_path, remove_namespace

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: real/dockerd.py names a daemon's container cgroup ``shoal-<its root dir name>``.
CGROUP_PREFIX = "shoal-"


def default_base() -> Path:
    return Path(tempfile.gettempdir())


def _tags() -> dict[str, set[int]]:
    """Run tag -> processes carrying it."""
    found: dict[str, set[int]] = {}
    marker = f"{ENV_TAG}=".encode()
    for entry in sorted(Path("/proc").iterdir()):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for item in (entry / "environ").read_bytes().split(b"\0"):
                if item.startswith(marker):
                    tag = item[len(marker) :].decode(errors="replace")
                    found.setdefault(tag, set()).add(int(entry.name))
    return found


def _cgroups() -> list[Path]:
    """Every container cgroup parent a test host's dockerd made."""
    return sorted(CGROUP_ROOT.glob(f"*/{CGROUP_PREFIX}{PREFIX}*"))


def _cgroup_pids(cgroup: Path) -> set[int]:
    pids: set[int] = set()
    for listing in cgroup.glob("**/cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(line) for line in listing.read_text().split())
    return pids


def _remove_cgroup(cgroup: Path) -> None:
    for child in sorted(cgroup.glob("**/"), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            child.rmdir()


def _mounts_under(path: Path) -> list[str]:
    prefix = f"{path}/"
    points: list[str] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 1:
                point = fields[1].replace("\\040", " ").replace("\\011", "\t")
                if point.startswith(prefix):
                    points.append(point)
    return sorted(points, key=len, reverse=True)


def run_dirs(base: Path) -> list[Path]:
    return sorted(p for p in base.glob(f"{PREFIX}*") if p.is_dir() and RunId.parse(p.name))


def remove_run(run: RunId, base: Path | None = None) -> None:
    """Kill and delete whatever of ``run`` is still there."""
    base = default_base() if base is None else base
    owned_ns = [name for name in namespaces() if run.owns(name)]
    owned_cg = [cg for cg in _cgroups() if run.owns(cg.name.removeprefix(CGROUP_PREFIX))]
    victims: set[int] = set(_tags().get(str(run), set()))
    for name in owned_ns:
        victims |= procs.host_pids(netns_path(name))
    for cgroup in owned_cg:
        victims |= _cgroup_pids(cgroup)
    procs.kill_all(procs.descendants(victims) - {os.getpid()})
    for name in owned_ns:
        remove_namespace(name)
    for cgroup in owned_cg:
        _remove_cgroup(cgroup)
    for directory in (p for p in run_dirs(base) if run.owns(p.name)):
        for point in _mounts_under(directory):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        shutil.rmtree(directory, ignore_errors=True)


def leftovers(base: Path | None = None) -> list[RunId]:
    """Runs that left something behind, dead owner or not, in a stable order."""
    base = default_base() if base is None else base
    names = [*namespaces(), *(p.name for p in run_dirs(base)), *_tags()]
    names += [cg.name.removeprefix(CGROUP_PREFIX) for cg in _cgroups()]
    runs = {run for run in map(RunId.parse, names) if run is not None}
    return sorted(runs, key=str)


def sweep(base: Path | None = None) -> list[RunId]:
    """Remove the leftovers of every run whose owner process is gone; which ones."""
    dead = [run for run in leftovers(base) if not run.alive()]
    for run in dead:
        remove_run(run, base)
    return dead


def remains(run: RunId, base: Path | None = None) -> list[str]:
    """What of ``run`` is still on the machine, described (empty once it is all gone)."""
    base = default_base() if base is None else base
    found = [f"netns {name}" for name in namespaces() if run.owns(name)]
    found += [f"link {name}" for name in links() if str(run) in name]
    found += [f"nft table {t}" for t in tables() if str(run) in t]
    found += [f"pid {pid}" for pid in sorted(_tags().get(str(run), set()))]
    found += [f"cgroup {cg}" for cg in _cgroups() if run.owns(cg.name.removeprefix(CGROUP_PREFIX))]
    found += [f"dir {p}" for p in run_dirs(base) if run.owns(p.name)]
    found += [f"mount {p}" for p in _mounts_under(base / str(run))]
    return found
