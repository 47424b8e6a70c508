"""``shoal sim sweep`` on a Dask LocalCluster started here: N single-thread worker
processes and a scheduler on this machine, then the sweep sent to its address, as
it would be to a remote cluster's (``--scheduler tcp://HOST:8786``).

    python benchmarks/sweep_on_local_cluster.py --workers 2 -- \\
        scenarios/rolling-update-isolated-leader.yml --seeds 1..10000 --no-progress

Everything after ``--`` is ``shoal sim sweep``'s own arguments; the exit status is
the sweep's.
"""

from __future__ import annotations

import argparse
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="worker processes (1 thread each)")
    parser.add_argument("sweep", nargs=argparse.REMAINDER, help="-- then shoal sim sweep's args")
    args = parser.parse_args()
    sweep = args.sweep[1:] if args.sweep[:1] == ["--"] else args.sweep
    from distributed import LocalCluster

    from cli.main import main as shoal

    with LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        return shoal(["sim", "sweep", *sweep, "--scheduler", cluster.scheduler_address])


if __name__ == "__main__":
    sys.exit(main())
