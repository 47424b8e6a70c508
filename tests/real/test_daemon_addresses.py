"""``shoal daemon --listen-addr`` and ``--advertise-addr``, as dockerd's swarm has them:
the transport binds the listen address (a wildcard by default), peers are told the
advertise address, and ``swarm init``/``join`` cannot rename a node whose daemon runs."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.manager.requests import ClientRequest
from real.addresses import (
    BAD_ADVERTISE,
    BAD_LISTEN,
    AddressError,
    Addresses,
    daemon_addresses,
    refusal,
)
from real.agent.images import IMAGE, ensure_busybox_image
from real.control import ControlClient
from real.daemon import address_refusal
from real.dockerd import Dockerd
from real.testhosts.hosts import TestHost, TestHosts
from real.testhosts.swarm import DAEMON, ShoalSwarm, rows, with_hostname
from tests.real.test_daemon import ROOT, Daemon, _free_port, _rows, _until

#: How ``swarm init --advertise-addr`` names what it is refused for.
NOT_THIS_NODE = "but this node's daemon was started with --advertise-addr"


# -- the addresses, resolved -----------------------------------------------------------


def test_a_wildcard_listen_address_binds_all_and_advertises_what_it_is_told() -> None:
    assert daemon_addresses("0.0.0.0:2377", "10.0.0.5") == Addresses(
        ("0.0.0.0", 2377), "10.0.0.5:2377"
    )
    assert daemon_addresses("0.0.0.0:4000", "10.0.0.5") == Addresses(
        ("0.0.0.0", 4000), "10.0.0.5:4000"
    ), "the advertise port defaults to the listen port"
    assert daemon_addresses("0.0.0.0", "10.0.0.5:5000") == Addresses(
        ("0.0.0.0", 2377), "10.0.0.5:5000"
    ), "the listen port defaults to Docker's 2377"


def test_a_concrete_listen_address_is_also_the_advertised_one() -> None:
    assert daemon_addresses("127.0.0.1:4000", None) == Addresses(
        ("127.0.0.1", 4000), "127.0.0.1:4000"
    )


def test_an_interface_name_means_its_ipv4_address() -> None:
    assert daemon_addresses("lo:4000", None) == Addresses(("127.0.0.1", 4000), "127.0.0.1:4000")
    assert daemon_addresses("0.0.0.0:4000", "lo").advertise == "127.0.0.1:4000"


@pytest.mark.parametrize(
    ("listen", "advertise", "said"),
    [
        ("0.0.0.0:2377", None, "--advertise-addr is required: --listen-addr 0.0.0.0:2377"),
        ("0.0.0.0:2377", "0.0.0.0", f"invalid --advertise-addr '0.0.0.0': {BAD_ADVERTISE}"),
        ("0.0.0.0:2377", "nosuch0", f"invalid --advertise-addr 'nosuch0': {BAD_ADVERTISE}"),
        ("nosuch0:2377", "10.0.0.5", f"invalid --listen-addr 'nosuch0:2377': {BAD_LISTEN}"),
        ("127.0.0.1:0", None, "invalid --listen-addr '127.0.0.1:0': the port must be 1 to 65535"),
        ("127.0.0.1:x", None, "invalid --listen-addr '127.0.0.1:x': the port must be 1 to 65535"),
        ("[::]:2377", "10.0.0.5", "invalid --listen-addr '[::]:2377': shoal speaks IPv4 only"),
        ("0.0.0.0:2377", "::1", "invalid --advertise-addr '::1': shoal speaks IPv4 only"),
    ],
)
def test_bad_addresses_are_refused_saying_why(
    listen: str, advertise: str | None, said: str
) -> None:
    with pytest.raises(AddressError) as refused:
        daemon_addresses(listen, advertise)
    assert str(refused.value).startswith(said), str(refused.value)


def test_init_and_join_may_only_name_the_daemons_own_addresses() -> None:
    mine = daemon_addresses("0.0.0.0:4000", "10.0.0.5")
    for same in ("10.0.0.5", "10.0.0.5:4000"):
        assert refusal(mine, "advertise_addr", same) is None
    assert refusal(mine, "listen_addr", "0.0.0.0:4000") is None
    other = refusal(mine, "advertise_addr", "10.0.0.6")
    assert other is not None
    assert "--advertise-addr 10.0.0.6 names 10.0.0.6:4000" in other
    assert f"{NOT_THIS_NODE} 10.0.0.5:4000" in other
    port = refusal(mine, "advertise_addr", "10.0.0.5:2377")
    assert port is not None and "10.0.0.5:4000" in port
    listen = refusal(mine, "listen_addr", "0.0.0.0:2377")
    assert listen is not None and "--listen-addr 0.0.0.0:4000" in listen
    assert refusal(mine, "advertise_addr", "junk") == (
        f"invalid --advertise-addr 'junk': {BAD_ADVERTISE}"
    )


def test_the_control_socket_refuses_an_init_naming_another_address() -> None:
    mine = daemon_addresses("0.0.0.0:4000", "10.0.0.5")
    refused = address_refusal(
        mine, ClientRequest("1", "SwarmJoin", {"remote": "x", "advertise_addr": "10.0.0.6"})
    )
    assert refused is not None and not refused.ok and refused.code == "InvalidArgument"
    assert NOT_THIS_NODE in refused.error
    plain = ClientRequest("2", "SwarmInit", {"advertise_addr": "10.0.0.5"})
    assert address_refusal(mine, plain) is None
    other = ClientRequest("3", "NodeList", {"advertise_addr": "10.0.0.6"})
    assert address_refusal(mine, other) is None


# -- the command ------------------------------------------------------------------------


def _daemon_command(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "daemon", "--data-dir", str(tmp_path / "d"), *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ((), "Error: --advertise-addr is required: --listen-addr 0.0.0.0:2377 listens on"),
        (("--advertise-addr", ""), "Error: --advertise-addr is required"),  # an unset variable
        (("--listen-addr", "0.0.0.0:2377", "--advertise-addr", "nosuch0"), BAD_ADVERTISE),
        (("--listen-addr", "bogus:2377"), BAD_LISTEN),
        (("--listen-addr", "203.0.113.254:2377"), "Error: cannot listen on 203.0.113.254:2377: "),
    ],
)
def test_the_daemon_refuses_bad_addresses_before_it_starts(
    tmp_path: Path, flags: tuple[str, ...], said: str
) -> None:
    """203.0.113.254 (TEST-NET-3) is no address of this host: binding it fails."""
    result = _daemon_command(tmp_path, *flags)
    assert result.returncode == 1, result.stdout + result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stderr


# -- two daemons ------------------------------------------------------------------------


class AddressedDaemon(Daemon):
    """A daemon with ``--listen-addr`` and ``--advertise-addr`` of the test's choice."""

    def __init__(self, data_dir: Path, docker_host: str, listen: str, advertise: str) -> None:
        super().__init__(data_dir, docker_host)
        self.listen, self.advertise = listen, advertise

    def addresses(self) -> list[str]:
        return ["--listen-addr", self.listen, "--advertise-addr", self.advertise]


def _listening(port: int) -> set[str]:
    """The IPv4 addresses a socket listens on at ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return found


@pytest.fixture
def pair(
    busybox_dockerd: Dockerd, second_busybox_dockerd: Dockerd, tmp_path: Path
) -> Iterator[tuple[AddressedDaemon, Daemon]]:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    port = _free_port()
    first = AddressedDaemon(
        tmp_path / "one" / "data", busybox_dockerd.url, f"0.0.0.0:{port}", "127.0.0.1"
    )
    second = Daemon(tmp_path / "two" / "data", second_busybox_dockerd.url)
    try:
        yield first, second
    finally:
        second.kill()
        first.kill()


def test_a_daemon_bound_to_every_address_is_joined_at_its_advertised_one(
    pair: tuple[AddressedDaemon, Daemon],
) -> None:
    first, second = pair
    port = int(first.listen.rsplit(":", 1)[1])
    advertised = f"127.0.0.1:{port}"
    first.start()
    second.start()

    control = ControlClient(str(first.socket))
    try:
        other = control.call("SwarmInit", {"advertise_addr": "127.0.0.2"})
    finally:
        control.close()
    assert not other.ok and other.code == "InvalidArgument"
    assert f"names 127.0.0.2:{port}, {NOT_THIS_NODE} {advertised}" in other.error

    init = first.shoal("swarm", "init", "--advertise-addr", "127.0.0.1")
    assert init.returncode == 0, init.stderr + first.log()
    assert "docker swarm join --token SWMTKN-1-" in init.stdout
    assert init.stdout.split("docker swarm join --token ")[1].split()[1] == advertised
    assert _listening(port) == {"0.0.0.0"}, "the transport binds the listen address"

    _until(first, ("node", "ls"), lambda out: "Leader" in out and "Ready" in out)
    token = first.shoal("swarm", "join-token", "-q", "worker").stdout.strip()
    joined = second.shoal("swarm", "join", "--token", token, advertised)
    assert joined.returncode == 0, joined.stderr + second.log() + first.log()

    def two_ready(out: str) -> bool:
        rows = _rows(out)
        return len(rows) == 2 and all("Ready" in row for row in rows)

    _until(first, ("node", "ls"), two_ready)


def test_swarm_init_naming_another_address_is_refused_by_the_cli(
    pair: tuple[AddressedDaemon, Daemon],
) -> None:
    first, _ = pair
    first.start()
    init = first.shoal("swarm", "init", "--advertise-addr", "127.0.0.2")
    assert init.returncode == 1, init.stdout + first.log()
    assert NOT_THIS_NODE in init.stderr and "Traceback" not in init.stderr


# -- the README's three VMs, as test hosts ----------------------------------------------

FIREWALL = ROOT / "contrib" / "nftables" / "shoal.nft"
SWARM_HOSTS = re.compile(r"^define swarm_hosts = \{[^}]*\}$", re.MULTILINE)


def _allow(host: TestHost, peers: list[TestHost]) -> None:
    """Load the shipped firewall on ``host``, its ``swarm_hosts`` set to ``peers``."""
    addresses = ", ".join(peer.address for peer in peers)
    rules, count = SWARM_HOSTS.subn(f"define swarm_hosts = {{ {addresses} }}", FIREWALL.read_text())
    assert count == 1, f"{FIREWALL} defines swarm_hosts once"
    loaded = host.run(["nft", "-f", "-"], input=rules)
    assert loaded.returncode == 0, loaded.stderr


def _reaches(source: TestHost, target: TestHost) -> bool:
    """Whether ``source`` connects to ``target``'s swarm port (1 s at most)."""
    probe = f"import socket; socket.create_connection(('{target.address}', 2377), timeout=1)"
    return source.run([sys.executable, "-c", probe]).returncode == 0


def _start_like_the_unit(swarm: ShoalSwarm, host: TestHost) -> None:
    """``shoal daemon`` as contrib/systemd/shoal.service starts it, with shoal.default's
    listen address and ``SHOAL_ADVERTISE_ADDR=eth0``."""
    assert host.dockerd is not None
    client = host.dockerd.client()
    try:
        ensure_busybox_image(client)
    finally:
        client.close()
    argv = [sys.executable, "-m", "cli.main", "daemon", "--data-dir", str(swarm.data_dir(host))]
    argv += ["--listen-addr", "0.0.0.0:2377", "--advertise-addr", "eth0"]
    argv += ["--docker-host", host.docker_url]
    env = {"PYTHONPATH": str(ROOT)}
    swarm.hosts.spawn(host, with_hostname(host.name, argv), DAEMON, env)
    swarm.start_daemon(host)  # waits for the control socket


@pytest.mark.slow
def test_three_hosts_form_a_swarm_behind_the_shipped_firewall(
    testhosts: Callable[..., TestHosts],
) -> None:
    """The README's walk-through: daemons bound to every address and advertising eth0,
    the firewall letting only the swarm's hosts reach 2377, init, join, a service."""
    hosts = testhosts(3, docker=True)
    swarm = ShoalSwarm(hosts)
    h1, h2, h3 = hosts
    for host in hosts:
        _start_like_the_unit(swarm, host)
    _allow(h1, [h1, h2])

    init = swarm.must("h1", "swarm", "init", "--advertise-addr", "eth0")
    assert "docker swarm join --token SWMTKN-1-" in init
    assert f" {h1.address}:2377" in init, init
    assert _reaches(h2, h1) and not _reaches(h3, h1), "2377 is open to swarm_hosts alone"

    manager = swarm.token("h1", "manager")
    swarm.must("h2", "swarm", "join", "--token", manager, f"{h1.address}:2377")
    _allow(h1, [h1, h2, h3])  # loading the file again replaces the rules
    assert _reaches(h3, h1)
    worker = swarm.token("h1", "worker")
    joined = swarm.must("h3", "swarm", "join", "--token", worker, f"{h1.address}:2377")
    assert joined.strip() == "This node joined a swarm as a worker."

    def formed(out: str) -> bool:
        listed = rows(out)
        return (
            len(listed) == 3
            and all(" Ready " in row for row in listed)
            and (
                sum("Leader" in row for row in listed) == 1
                and sum("Reachable" in row for row in listed) == 1
            )
        )

    swarm.until("h1", ("node", "ls"), formed)
    created = swarm.must(
        "h1", "service", "create", "--name", "web", "--replicas", "3",
        "--stop-grace-period", "1s", IMAGE,
    )  # fmt: skip
    assert "verify: Service converged" in created
    tasks = rows(swarm.must("h1", "service", "ps", "web"))
    assert len(tasks) == 3 and all(" Running " in row for row in tasks), tasks
