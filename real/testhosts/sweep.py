"""Remove everything a run made, found by its names alone.

:func:`remove_run` is the last step of every orderly close, and what :func:`sweep` does to
each run whose owner process is gone (a crashed or interrupted pytest): kill the run's
processes (by namespace, by environment tag, by container cgroup, by a command line naming
one of its directories), delete its namespaces (which deletes its veths, bridge and nft
tables with them), its cgroups, its mounts and its temp dirs. Live runs of other processes
(parallel pytest-xdist workers) are never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from real import dockerd
from real.agent.taskfiles import RUN_ROOT
from real.testhosts import procs
from real.testhosts.firewall import tables
from real.testhosts.naming import ENV_TAG, PREFIX, RunId
from real.testhosts.network import namespaces, netns_path, remove_namespace


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


def _cgroups(run: RunId | None = None) -> list[str]:
    """The container cgroup parents of test dockerds (of ``run``'s only, if given): a
    daemon names it after its root dir, which is run-tagged."""
    names = dockerd.cgroups(f"{dockerd.CGROUP_PREFIX}{PREFIX}")
    return [n for n in names if run is None or run.owns(_cgroup_owner(n))]


def _cgroup_owner(name: str) -> str:
    return name.removeprefix(dockerd.CGROUP_PREFIX)


def run_dirs(base: Path) -> list[Path]:
    return sorted(p for p in base.glob(f"{PREFIX}*") if p.is_dir() and RunId.parse(p.name))


def _owned_dirs(run: RunId, base: Path) -> list[Path]:
    return [p for p in run_dirs(base) if run.owns(p.name)]


def _mounts(run: RunId, base: Path) -> list[str]:
    """Mount points at or inside any directory of ``run`` under ``base``, deepest first
    (found in the mount table, so a mount on a directory already unlinked counts too)."""
    top = base.absolute()
    owned = []
    for point in dockerd.mounts_under(top):
        first = Path(point).relative_to(top).parts[:1]
        if first and run.owns(first[0]):
            owned.append(point)
    return owned


def _tables_in(namespace: str) -> list[str]:
    """The nft tables inside a namespace; none once it is gone."""
    with contextlib.suppress(subprocess.CalledProcessError, OSError):
        return tables(netns_path(namespace))
    return []


def remove_run(run: RunId, base: Path | None = None) -> None:
    """Kill and delete whatever of ``run`` is still there."""
    base = default_base() if base is None else base
    owned_ns = [name for name in namespaces() if run.owns(name)]
    owned_cg = _cgroups(run)
    owned_dirs = _owned_dirs(run, base)
    victims: set[int] = set(_tags().get(str(run), set()))
    for name in owned_ns:
        victims |= procs.host_pids(netns_path(name))
    for cgroup in owned_cg:
        victims |= dockerd.cgroup_pids(cgroup)
    for directory in owned_dirs:
        victims |= dockerd.pids_naming(directory)  # a dockerd outside any namespace
    procs.kill_all(procs.descendants(victims) - {os.getpid()})
    for name in owned_ns:
        remove_namespace(name)
    for cgroup in owned_cg:
        dockerd.remove_cgroup(cgroup)
    for point in [*_mounts(run, base), *_mounts(run, RUN_ROOT)]:
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    for directory in [*owned_dirs, *_owned_task_files(run)]:
        shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(OSError):  # once no run has task files left
        RUN_ROOT.rmdir()


def _task_file_dirs() -> list[Path]:
    """Every entry of /run/shoal; none once it is gone (a parallel sweeper removes it
    when it removes the last run's)."""
    with contextlib.suppress(FileNotFoundError):
        return sorted(RUN_ROOT.iterdir())
    return []


def _owned_task_files(run: RunId) -> list[Path]:
    """The hosts' task-file directories (a daemon keeps its tmpfs mounted while
    tasks have files on it): /run/shoal/<host namespace>."""
    return [p for p in _task_file_dirs() if run.owns(p.name)]


def leftovers(base: Path | None = None) -> list[RunId]:
    """Runs that left something behind, dead owner or not, in a stable order."""
    base = default_base() if base is None else base
    names = [*namespaces(), *(p.name for p in run_dirs(base)), *_tags()]
    names += [p.name for p in _task_file_dirs()]
    names += [_cgroup_owner(name) for name in _cgroups()]
    runs = {run for run in map(RunId.parse, names) if run is not None}
    return sorted(runs, key=str)


def sweep(base: Path | None = None) -> list[RunId]:
    """Remove the leftovers of every run whose owner process is gone; which ones."""
    dead = [run for run in leftovers(base) if not run.alive()]
    for run in dead:
        remove_run(run, base)
    return dead


def remains(run: RunId, base: Path | None = None) -> list[str]:
    """What of ``run`` is still on the machine, described (empty once it is all gone).

    A run makes nothing in the root network namespace: its devices and nft tables live in
    its own namespaces, so they are listed with them (and go when those are removed).
    """
    base = default_base() if base is None else base
    found: list[str] = []
    for name in (n for n in namespaces() if run.owns(n)):
        found.append(f"netns {name}")
        found += [f"nft table {t} in {name}" for t in _tables_in(name)]
    found += [f"pid {pid}" for pid in sorted(_tags().get(str(run), set()))]
    found += [f"cgroup {name}" for name in _cgroups(run)]
    found += [f"dir {p}" for p in [*_owned_dirs(run, base), *_owned_task_files(run)]]
    found += [f"mount {p}" for p in [*_mounts(run, base), *_mounts(run, RUN_ROOT)]]
    return found
