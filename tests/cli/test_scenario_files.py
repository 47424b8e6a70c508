"""Files ``shoal sim run`` must refuse with a file error (exit 1, file:line, no
traceback): not text, too big, too deep, keys that are not text, more hosts than
the simulator carries, and host names the scenario does not have."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli.main import main
from cli.scenario.runner import conditions
from cli.scenario.schema import BYTES_MAX, DEPTH_MAX, HOSTS_MAX, ScenarioError, parse


def refused(capsys: pytest.CaptureFixture[str], path: str) -> str:
    assert main(["sim", "run", path, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name: x\n\xd0\x00\xff\xfe binary", "x.yml:2: not UTF-8 text (a binary file?)"),
        (b"a: " + b"[" * 500 + b"]" * 500, f"x.yml:1: nested more than {DEPTH_MAX} deep"),
        (
            "".join("  " * i + "k:\n" for i in range(500)).encode(),
            f"x.yml:{DEPTH_MAX + 1}: nested more than {DEPTH_MAX} deep",
        ),
        (b"? [a, b]\n: 1\n", "x.yml:1: a key must be plain text"),
        (
            b"cluster:\n  labels:\n    ? {a: 1}\n    : {x: y}\n",
            "x.yml:3: cluster.labels: a key must be plain text",
        ),
        (
            b"name: " + b"x" * BYTES_MAX,
            f"x.yml: is larger than {BYTES_MAX // 2**20} MiB: not a scenario",
        ),
    ],
    ids=["binary", "deep-lists", "deep-mappings", "complex-key", "nested-complex-key", "huge"],
)
def test_a_file_that_is_no_scenario_is_a_file_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    path = tmp_path / "x.yml"
    path.write_bytes(content)
    assert refused(capsys, str(path)) == f"Error: {tmp_path}/{message}"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dev_zero_is_refused_after_a_bounded_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, "/dev/zero").startswith("Error: /dev/zero: is larger than")


def test_hosts_are_bounded_by_what_the_simulator_carries() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse("cluster: {managers: 3, workers: 10000}", "big.yml")
    assert str(caught.value) == (
        "big.yml:1: cluster: 3 managers and 10000 workers: a scenario has at most "
        f"{HOSTS_MAX} hosts (what the simulator carries)"
    )
    at_the_bound = parse(f"cluster: {{managers: 3, workers: {HOSTS_MAX - 3}}}", "big.yml")
    assert len(at_the_bound.hosts) == HOSTS_MAX


HOSTS = "cluster: {managers: 1, workers: 2, names: {worker-2: db}}\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "expect:\n  always: [no task on wroker-1 after 0s]\n",
            3,
            "expect: 'no task on wroker-1 after 0s': no such host 'wroker-1'",
        ),
        (
            "expect:\n  by: [{at: 5s, check: node worker-2 ready}]\n",
            3,
            "expect: 'node worker-2 ready': no such host 'worker-2'",
        ),
        (
            "expect:\n  at: [{at: 5s, check: leader is not manager-2}]\n",
            3,
            "expect: 'leader is not manager-2': no such host 'manager-2'",
        ),
        (
            "steps: [{at: 0s, run: node ls, on: manager-2}]\n",
            2,
            "steps[0].on: no such host",
        ),
        (
            "steps: [{at: 0s, fault: crash wroker-1}]\n",
            2,
            "steps[0].fault: crash needs a host",
        ),
    ],
    ids=["no-task-on", "node", "leader", "step-on", "fault"],
)
def test_every_host_an_expectation_or_step_names_must_be_the_scenarios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int, message: str
) -> None:
    path = tmp_path / "typo.yml"
    path.write_text(HOSTS + text)
    err = refused(capsys, str(path))
    assert err.startswith(f"Error: {path}:{line}: {message}")
    assert "manager-1, worker-1, db" in err  # the names it could have meant


def test_the_hosts_a_scenario_has_pass() -> None:
    expect = (
        "expect:\n  always: [no task on db after 0s]\n"
        "  by: [{at: 1s, check: leader is manager-1}]\n"
    )
    scenario = parse(HOSTS + expect, "ok.yml")
    assert [c.host for _, c in conditions(scenario)] == ["db", "manager-1"]


def test_an_images_stop_signals_are_read_as_dockerd_reads_signals() -> None:
    text = (
        "cluster:\n  managers: 1\n  images:\n    stubborn:1:\n"
        "      stop_signals: [SIGUSR1, quit, 15]\n"
        "expect:\n  always: [raft safety]\nduration: 10s\n"
    )
    scenario = parse(text, "x.yml")
    assert scenario.images["stubborn:1"].stop_signals == ("SIGUSR1", "SIGQUIT", "SIGTERM")
    with pytest.raises(ScenarioError, match=r"x.yml:5: .*stop_signals: invalid signal: bogus"):
        parse(text.replace("quit", "bogus"), "x.yml")
