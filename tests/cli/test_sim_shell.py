"""``shoal sim shell``: Docker's commands typed at a simulated swarm, time moved on
by hand, and Docker's words for the results and the mistakes."""

from __future__ import annotations

import argparse
import io

from cli.main import main
from cli.sim_shell import run


def session(*lines: str, managers: int = 1, workers: int = 2) -> list[str]:
    out = io.StringIO()
    args = argparse.Namespace(managers=managers, workers=workers, seed=1, echo=False)
    assert run(args, lines=list(lines), out=out) == 0
    return out.getvalue().splitlines()


def test_a_service_through_its_life() -> None:
    out = session(
        "service create --name web --replicas 2 -p 8080:80 nginx:1",
        "advance 20s",
        "service ls",
        "service scale web=3",
        "advance 20s",
        "service ps web",
        "service rm web",
    )
    service_id = out[1]
    assert len(service_id) == 25 and service_id.isalnum()
    header = out.index(next(line for line in out if line.startswith("ID   ") and "MODE" in line))
    assert out[header + 1].split() == [
        service_id[:12],
        "web",
        "replicated",
        "2/2",
        "nginx:1",
        "*:8080->80/tcp",
    ]
    assert "web scaled to 3" in out
    rows = [line for line in out if line.split()[1:2] and line.split()[1].startswith("web.")]
    assert sorted(row.split()[1] for row in rows) == ["web.1", "web.2", "web.3"]
    assert all("Running" in row for row in rows)
    assert out[-1] == "web"


def test_faults_and_node_listing() -> None:
    out = session(
        "node update --availability drain worker-1",
        "crash worker-2",
        "advance 30s",
        "node ls",
        managers=1,
        workers=2,
    )
    table = {line.split()[1]: line for line in out if line.split()[1:2] and "-" in line.split()[1]}
    assert "Drain" in table["worker-1"].split()
    assert "Down" in table["worker-2"].split()
    (manager,) = [line for line in out if "manager-1" in line]
    assert manager.split()[1:3] == ["*", "manager-1"]  # the node spoken to, starred


def test_mistakes_get_docker_messages_and_the_shell_goes_on() -> None:
    out = session(
        "service create --replicas abc nginx",
        "service inspect nowhere",
        "frobnicate",
        "advance soon",
        "crash nohost",
        "time",
    )
    assert out[1] == (
        'invalid argument "abc" for "--replicas" flag: strconv.ParseUint: parsing "abc": '
        "invalid syntax"
    )
    assert out[2] == "See 'docker service create --help'."
    assert out[3:5] == ["[]", "Error: no such service: nowhere"]
    assert out[5] == "Error: docker: 'frobnicate' is not a docker command."
    assert out[7] == 'Error: time: invalid duration "soon"'
    assert out[8].startswith("Error: no host nohost: the hosts are manager-1")
    assert out[9].startswith("t=")


def test_bad_swarm_size_is_a_user_error(capsys: object) -> None:
    assert main(["sim", "shell", "--managers", "0"]) == 1


def test_swarm_commands() -> None:
    out = session(
        "swarm join-token -q worker",
        "swarm join-token --rotate worker",
        "swarm join-token -q worker",
        "swarm join-token -q manager",
        "swarm update --task-history-limit 2",
        "@worker-1 swarm leave",
        "@manager-1 swarm leave",
    )
    out = [line for line in out if line]  # the advice is set off by blank lines
    before, after, manager = out[1], out[5], out[6]
    assert before.startswith("SWMTKN-1-") and after.startswith("SWMTKN-1-")
    assert before != after  # a new secret
    assert before.split("-")[2] == after.split("-")[2] == manager.split("-")[2]  # one CA digest
    assert out[2] == "Successfully rotated worker join token."
    assert out[3] == "To add a worker to this swarm, run the following command:"
    assert out[4] == f"    docker swarm join --token {after} manager-1:2377"
    assert out[7:9] == ["Swarm updated.", "Node left the swarm."]
    assert out[9].startswith(
        "Error response from daemon: You are attempting to leave the swarm on a node that is "
        "participating as a manager."
    )


def test_create_and_update_wait_for_convergence_unless_detached() -> None:
    out = session(
        "service create --name web --replicas 2 nginx:1",
        "service update --image nginx:2 web",
        "service create -d --name quick nginx",
    )
    assert out[2:6] == [
        "overall progress: 2 out of 2 tasks",
        "1/2: running   [" + "=" * 49 + ">]",
        "2/2: running   [" + "=" * 49 + ">]",
        "verify: Service converged",
    ]
    assert out[6] == "web" and out[7] == "overall progress: 2 out of 2 tasks"
    assert out[10] == "verify: Service converged"
    assert len(out) == 12 and len(out[11]) == 25  # detached: the id alone


def test_more_than_seven_managers_is_warned_of_and_the_last_manager_may_not_leave() -> None:
    out = session(
        "node promote worker-1 worker-2 worker-3 worker-4 worker-5",
        managers=3,
        workers=5,
    )
    promoted = [line for line in out if line.endswith("promoted to a manager in the swarm.")]
    assert len(promoted) == 5
    warnings = [line for line in out if line.startswith("WARNING: this swarm has 8 managers.")]
    assert len(warnings) == 1  # once past seven
    (refused,) = session("swarm leave", managers=1, workers=0)[1:]
    assert refused.endswith(
        "Removing the last manager erases all current state of the swarm. Use `--force` to "
        "ignore this message."
    )


def test_inspect_format_and_logs_are_printed_as_docker_prints_them() -> None:
    started = (
        "service create -d --name web --replicas 1 -p 8080:80 nginx:1",
        "advance 20s",
        "service inspect --format '{{.Spec.Name}} {{json .Endpoint.Spec.Ports}}' web",
        "service ps -q web",
    )
    out = session(*started, "service logs web")
    ports = '[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]'
    assert f"web {ports}" in out
    task_id = out[out.index(f"web {ports}") + 1]
    assert "Logs" not in out and "Warnings" not in out
    by_task = session(*started, f"service logs {task_id}")  # the same seed: the same task
    assert not any(line.startswith("Error") for line in by_task), by_task


def test_swarm_update_cert_expiry_sets_it_or_says_dockers_minimum() -> None:
    out = session("swarm update --cert-expiry 30m", "swarm update --cert-expiry 2h")
    assert out[1] == (
        "Error response from daemon: rpc error: code = InvalidArgument "
        "desc = minimum certificate expiry time is: 1h0m0s"
    )
    assert out[2] == "Swarm updated."
