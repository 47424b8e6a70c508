"""docker-py's own swarm integration tests (contrib/peer-tests/docker-py, unchanged,
Apache-2.0) against ``shoal sim serve``.

The suite runs in a pytest of its own, talking to a served simulated swarm; its
results are read from JUnit XML. Tests that need what shoal does not serve
(containers, images, volumes, local-scope networks) are counted apart; every other
test must pass, except those listed in :data:`KNOWN_FAILURES` with the reason, which
must still fail (a fixed one is taken off the list). The README quotes the counts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.support import ROOT, sim_serve_process

SUITE = ROOT / "contrib" / "peer-tests" / "docker-py"
SPEED = "20"  # simulated seconds per wall second: the suite polls in wall time

#: Tests that use what a dockerd serves beside the swarm (containers, exec, volumes,
#: local-scope networks): shoal serves the swarm's endpoints, so these are counted
#: apart, not run as failures. A module name stands for all its tests.
LOCAL_NETWORKS = "local-scope (bridge) networks, a dockerd's own"
IN_A_CONTAINER = "reads the file inside the task's container (GET /containers, exec)"
NEEDS_ENGINE = {
    "api_network_test": LOCAL_NETWORKS + ", with containers attached in most",
    "models_networks_test": LOCAL_NETWORKS + " (and a container in test_connect_disconnect)",
    "api_service_test.test_create_service_with_volume_mount": "mounts a volume",
    "api_service_test.test_service_logs": "finds the task's container (GET /containers)",
    "api_service_test.test_create_service_with_secret": IN_A_CONTAINER,
    "api_service_test.test_create_service_with_unicode_secret": IN_A_CONTAINER,
    "api_service_test.test_create_service_with_config": IN_A_CONTAINER,
    "api_service_test.test_create_service_with_unicode_config": IN_A_CONTAINER,
}
#: Swarm-scope network tests in api_network_test, run and counted.
SWARM_NETWORK_TESTS = (
    "api_network_test.test_create_network_attachable",
    "api_network_test.test_create_network_ingress",
)

#: Tests that fail against shoal, with why (each must still fail).
KNOWN_FAILURES: dict[str, str] = {
    "api_swarm_test.test_init_swarm_custom_addr_pool_defaults": (
        "dockerd 20.10.24, which shoal follows, answers DefaultAddrPool null after a "
        "default init (tests/golden/swarm.json); newer engines fill in 10.0.0.0/8"
    ),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("peer")
    sock = directory / "shoal.sock"
    args = ("--socket", str(sock), "--speed", SPEED, "--managers", "1", "--workers", "2")
    with sim_serve_process(directory, *args):
        yield f"unix://{sock}"


def outcomes(report: Path) -> dict[str, str]:
    """``module.test`` -> passed, failed or skipped, from JUnit XML."""
    found: dict[str, str] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        parts = case.get("classname", "").split(".")
        module = next((p for p in parts if p.endswith("_test")), parts[-1])
        name = f"{module}.{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            found[name] = "failed"
        elif case.find("skipped") is not None:
            found[name] = "skipped"
        else:
            found[name] = "passed"
    return found


def apart(name: str) -> bool:
    if name in SWARM_NETWORK_TESTS:
        return False
    return any(name == key or name.startswith(f"{key}.") for key in NEEDS_ENGINE)


@pytest.mark.slow
def test_docker_pys_swarm_suite_passes_against_shoal_sim_serve(served: str, tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    env = {**os.environ, "DOCKER_HOST": served, "DOCKER_TEST_API_VERSION": "1.41"}
    env.pop("PYTHONPATH", None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/integration", "-q",
         f"--junitxml={report}"],
        cwd=SUITE, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    assert report.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    seen = outcomes(report)
    counted = {n: o for n, o in seen.items() if not apart(n)}
    failed = sorted(n for n, o in counted.items() if o == "failed" and n not in KNOWN_FAILURES)
    fixed = sorted(n for n in KNOWN_FAILURES if counted.get(n) == "passed")
    summary = (
        f"{sum(o == 'passed' for o in counted.values())} passed, "
        f"{sum(o == 'failed' for o in counted.values())} failed "
        f"({len(KNOWN_FAILURES)} known), {sum(o == 'skipped' for o in counted.values())} "
        f"skipped, {len(seen) - len(counted)} counted apart"
    )
    print(summary)
    assert not failed, f"{summary}\nunexpected failures: {failed}\n{run.stdout[-6000:]}"
    assert not fixed, f"known failures that pass now (take them off the list): {fixed}"
