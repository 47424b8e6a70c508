"""The Engine API's version negotiation, errors, /info, /swarm and /nodes over a
simulated swarm, through docker-py and raw HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import docker
import pytest
import requests

from real.engine import filters
from real.engine.errors import EngineError
from tests.engine.support import StepBackend, api_client, world

NOT_A_MANAGER = "This node is not a swarm manager."


@pytest.fixture(scope="module")
def formed() -> Iterator[docker.APIClient]:
    built = world(3, 2)
    leader = built.leader()
    assert leader is not None
    with api_client(StepBackend(built, leader.name)) as client:
        yield client


def raw(client: docker.APIClient, method: str, path: str, **kwargs: object) -> requests.Response:
    return client.request(method, client.base_url + path, **kwargs)  # type: ignore[arg-type]


def test_versions_are_negotiated_as_dockerd_does(formed: docker.APIClient) -> None:
    assert formed.api_version == "1.41"
    ping = raw(formed, "GET", "/_ping")
    assert ping.text == "OK" and ping.headers["Api-Version"] == "1.41"
    assert ping.headers["Server"].startswith("Docker/") and ping.headers["Ostype"] == "linux"
    assert raw(formed, "HEAD", "/_ping").status_code == 200
    version = raw(formed, "GET", "/version").json()
    assert (version["ApiVersion"], version["MinAPIVersion"]) == ("1.41", "1.12")
    assert raw(formed, "GET", "/v1.30/nodes").status_code == 200  # older clients are served
    too_new = raw(formed, "GET", "/v1.45/nodes")
    assert too_new.status_code == 400
    assert too_new.json() == {
        "message": "client version 1.45 is too new. Maximum supported API version is 1.41"
    }
    assert too_new.headers["Content-Type"] == "application/json"
    too_old = raw(formed, "GET", "/v1.11/nodes")
    assert too_old.status_code == 400 and "is too old" in too_old.json()["message"]
    missing = raw(formed, "GET", "/v1.41/no/such/route")
    assert (missing.status_code, missing.json()) == (404, {"message": "page not found"})


def test_info_describes_the_swarm(formed: docker.APIClient) -> None:
    swarm = formed.info()["Swarm"]
    assert swarm["LocalNodeState"] == "active" and swarm["ControlAvailable"] is True
    assert (swarm["Nodes"], swarm["Managers"]) == (5, 3)
    assert swarm["Cluster"]["ID"] == formed.inspect_swarm()["ID"]
    assert "JoinTokens" not in swarm["Cluster"]
    node_ids = {n["ID"] for n in formed.nodes(filters={"role": "manager"})}
    assert {m["NodeID"] for m in swarm["RemoteManagers"]} == node_ids


def test_node_filters(formed: docker.APIClient) -> None:
    names = lambda **f: sorted(n["Description"]["Hostname"] for n in formed.nodes(filters=f))  # noqa: E731
    assert names(role="worker") == ["worker-1", "worker-2"]
    assert names(name="manager") == ["manager-1", "manager-2", "manager-3"]  # a prefix
    assert names(name="worker-2") == ["worker-2"]
    one = formed.nodes()[0]["ID"]
    assert [n["ID"] for n in formed.nodes(filters={"id": one[:6]})] == [one]
    assert names(membership="accepted") == names()
    legacy = raw(
        formed, "GET", "/nodes", params={"filters": json.dumps({"role": {"worker": True}})}
    )
    assert sorted(n["Description"]["Hostname"] for n in legacy.json()) == ["worker-1", "worker-2"]
    with pytest.raises(docker.errors.APIError) as refused:
        formed.nodes(filters={"colour": "red"})
    assert refused.value.status_code == 400 and "Invalid filter 'colour'" in str(refused.value)


def test_a_node_update_takes_the_whole_spec_at_its_version(formed: docker.APIClient) -> None:
    node = formed.inspect_node("worker-1")
    spec = {**node["Spec"], "Labels": {"zone": "east"}, "Availability": "drain"}
    formed.update_node(node["ID"], node["Version"]["Index"], spec)
    after = formed.inspect_node("worker-1")
    assert after["Spec"]["Labels"] == {"zone": "east"} and after["Spec"]["Availability"] == "drain"
    with pytest.raises(docker.errors.APIError) as stale:
        formed.update_node(node["ID"], node["Version"]["Index"], spec)
    assert stale.value.status_code == 500
    assert stale.value.explanation == "rpc error: code = Unknown desc = update out of sequence"
    unversioned = raw(formed, "POST", f"/nodes/{node['ID']}/update", json=spec)
    assert unversioned.status_code == 400
    assert unversioned.json()["message"].startswith("invalid node version ''")
    bad = raw(
        formed, "POST", f"/nodes/{node['ID']}/update",
        params={"version": after["Version"]["Index"]}, json={"Role": "captain"},
    )  # fmt: skip
    assert bad.status_code == 400 and "NodeSpec.Role" in bad.json()["message"]
    assert formed.inspect_node("worker-1")["Version"] == after["Version"]  # nothing written
    formed.update_node(node["ID"], after["Version"]["Index"], {**spec, "Availability": "active"})


def test_node_errors_have_dockerd_statuses(formed: docker.APIClient) -> None:
    with pytest.raises(docker.errors.NotFound) as missing:
        formed.inspect_node("nosuchnode")
    assert "node nosuchnode not found" in str(missing.value)
    with pytest.raises(docker.errors.APIError) as up:
        formed.remove_node("worker-2")
    assert up.value.status_code == 400 and "is not down and can't be removed" in str(up.value)
    leader = next(n for n in formed.nodes() if n.get("ManagerStatus", {}).get("Leader"))
    with pytest.raises(docker.errors.APIError) as member:
        formed.remove_node(leader["ID"], force=True)
    assert member.value.status_code == 400 and "must be demoted" in str(member.value)


def test_swarm_update_keeps_what_the_spec_leaves_at_zero(formed: docker.APIClient) -> None:
    swarm = formed.inspect_swarm()
    before = swarm["Spec"]
    formed.update_swarm(
        swarm["Version"]["Index"],
        {"Name": "default", "Orchestration": {"TaskHistoryRetentionLimit": 2}},
    )
    after = formed.inspect_swarm()
    assert after["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 2
    assert (
        after["Spec"]["Raft"] == before["Raft"] and after["Spec"]["CAConfig"] == before["CAConfig"]
    )
    tokens = after["JoinTokens"]
    formed.update_swarm(after["Version"]["Index"], after["Spec"], rotate_worker_token=True)
    rotated = formed.inspect_swarm()["JoinTokens"]
    assert rotated["Worker"] != tokens["Worker"] and rotated["Manager"] == tokens["Manager"]
    with pytest.raises(docker.errors.APIError) as named:
        formed.update_swarm(formed.inspect_swarm()["Version"]["Index"], {"Name": "other"})
    assert named.value.status_code == 400 and 'must be named "default"' in str(named.value)
    bad_flag = raw(
        formed, "POST", "/swarm/update",
        params={"version": 1, "rotateWorkerToken": "maybe"}, json={"Name": "default"},
    )  # fmt: skip
    assert bad_flag.status_code == 400 and "invalid value for rotateWorkerToken" in bad_flag.text
    assert formed.get_unlock_key() == {"UnlockKey": ""}
    assert raw(formed, "POST", "/swarm/unlock", json={"UnlockKey": "x"}).status_code == 409


def test_init_takes_the_clusters_settings_and_refuses_bad_ones() -> None:
    outside = world(1, 1, formed=False)
    with api_client(StepBackend(outside, "manager-1")) as client:
        with pytest.raises(docker.errors.APIError) as none:
            client.inspect_swarm()
        assert none.value.status_code == 503 and NOT_A_MANAGER in str(none.value)
        assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
        with pytest.raises(docker.errors.APIError) as port:
            client.init_swarm(advertise_addr="manager-1", data_path_port=80)
        assert port.value.status_code == 400 and "data path port" in str(port.value)
        with pytest.raises(docker.errors.APIError) as pool:
            client.init_swarm(advertise_addr="manager-1", default_addr_pool=["10.0.0.0/33"])
        assert pool.value.status_code == 400
        for unsupported in ({"DataPathAddr": "eth1"}, {"Availability": "drain"}):
            answer = raw(client, "POST", "/swarm/init", json=unsupported)
            assert answer.status_code == 400 and "is not supported" in answer.json()["message"]
        assert client.info()["Swarm"]["LocalNodeState"] == "inactive"  # nothing happened
        spec = client.create_swarm_spec(snapshot_interval=5000, task_history_retention_limit=3)
        node_id = client.init_swarm(
            advertise_addr="manager-1", default_addr_pool=["2.0.0.0/16"], subnet_size=26,
            swarm_spec=spec,
        )  # fmt: skip
        swarm = client.inspect_swarm()
        assert (swarm["DefaultAddrPool"], swarm["SubnetSize"]) == (["2.0.0.0/16"], 26)
        assert swarm["Spec"]["Raft"]["SnapshotInterval"] == 5000
        assert swarm["Spec"]["Raft"]["ElectionTick"] == 10  # zero kept the default
        assert swarm["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 3
        assert client.info()["Swarm"]["NodeID"] == node_id
        with pytest.raises(docker.errors.APIError) as again:
            client.init_swarm(advertise_addr="manager-1")
        assert again.value.status_code == 503 and "already part of a swarm" in str(again.value)
        with pytest.raises(docker.errors.APIError) as manager:
            client.leave_swarm()
        assert manager.value.status_code == 503
        assert client.leave_swarm(force=True)
        assert client.info()["Swarm"]["LocalNodeState"] == "inactive"


def test_bodies_that_are_not_json_are_refused(formed: docker.APIClient) -> None:
    empty = raw(formed, "POST", "/swarm/join", data=b"")
    assert (empty.status_code, empty.json()) == (
        400, {"message": "got EOF while reading request body"}
    )  # fmt: skip
    garbage = raw(formed, "POST", "/swarm/join", data=b"{nope")
    assert garbage.status_code == 400 and garbage.json()["message"].startswith("invalid JSON")
    no_remote = raw(formed, "POST", "/swarm/join", json={"JoinToken": "x"})
    assert no_remote.json() == {"message": "at least 1 RemoteAddr is required to join"}


def test_filters_parse_both_forms_and_refuse_others() -> None:
    parsed = filters.parse(
        '{"name": ["a", "b"], "role": {"worker": true, "x": false}}', ["name", "role"]
    )
    assert parsed.get("name") == ("a", "b") and parsed.get("role") == ("worker",)
    assert parsed.labels("name", {}) is False
    labelled = filters.parse('{"label": ["k", "e=v"]}', ["label"])
    assert labelled.labels("label", {"k": "1", "e": "v"})
    assert not labelled.labels("label", {"k": "1", "e": "w"})
    assert not labelled.labels("label", {"e": "v"})
    for bad in ("[1]", '{"name": "web"}', '{"name": [1]}', "{"):
        with pytest.raises(EngineError) as refused:
            filters.parse(bad, ["name"])
        assert refused.value.status == 400


def test_autolock_through_the_api_locks_a_restarted_manager_until_its_key_is_given() -> None:
    """docker-py's calls: init with ``autolock_managers``, ``get_unlock_key``, a rotation,
    then a restart: ``docker info`` says locked, swarm calls get dockerd's 503, a wrong key
    401, a malformed one 400, the right one unlocks."""
    outside = world(1, 0, formed=False)
    outside.hosts["manager-1"].boot()
    with api_client(StepBackend(outside, "manager-1")) as client:
        client.init_swarm(swarm_spec=client.create_swarm_spec(autolock_managers=True))
        outside.run_for(5)
        assert client.inspect_swarm()["Spec"]["EncryptionConfig"]["AutoLockManagers"] is True
        key = client.get_unlock_key()["UnlockKey"]
        assert key.startswith("SWMKEY-1-") and len(key) == 52
        swarm = client.inspect_swarm()
        client.update_swarm(
            swarm["Version"]["Index"], swarm["Spec"], rotate_manager_unlock_key=True
        )
        rotated = client.get_unlock_key()["UnlockKey"]
        assert rotated != key and "UnlockKey" not in json.dumps(client.inspect_swarm())
        outside.run_for(5)
        outside.restart(outside.hosts["manager-1"])
        assert client.info()["Swarm"]["LocalNodeState"] == "locked"
        with pytest.raises(docker.errors.APIError) as locked:
            client.inspect_swarm()
        assert locked.value.status_code == 503 and "needs to be unlocked" in str(locked.value)
        for wrong, status in ((key, 401), ("SWMKEY-1-%%%", 400)):
            with pytest.raises(docker.errors.APIError) as refused:
                client.unlock_swarm({"UnlockKey": wrong})
            assert refused.value.status_code == status
        assert client.unlock_swarm({"UnlockKey": rotated}) is True
        outside.run_for(5)
        assert client.info()["Swarm"]["LocalNodeState"] == "active"
        assert client.inspect_swarm()["Spec"]["EncryptionConfig"]["AutoLockManagers"] is True
