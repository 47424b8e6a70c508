"""A daemon's two addresses, as Docker's ``--listen-addr`` and ``--advertise-addr``.

The *listen* address is where the transport binds (``0.0.0.0:2377``, every IPv4
address, by default); the *advertise* address is the node's name to its peers: what
they dial, what ``swarm join`` commands print. Each is an IPv4 address or a network
interface (then its one IPv4 address), with an optional port: the listen port is
2377 unless given, the advertise port the listen port unless given. A wildcard
listen address says nothing peers can dial, so it needs an advertise address.

The node's name is fixed when its daemon starts (it is in the node's Raft membership
and its peers' address books), so ``swarm init``/``join`` with ``--advertise-addr``
or ``--listen-addr`` naming other addresses than the daemon's are refused, not
silently ignored: :func:`refusal`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from core.errors import ShoalError

#: Docker's swarm port.
DEFAULT_PORT = 2377
#: Docker's words for an address that is neither an IP address nor an interface.
BAD_LISTEN = "listen address must be an IP address or network interface (with optional port number)"
BAD_ADVERTISE = (
    "advertise address must be a non-zero IP address or network interface "
    "(with optional port number)"
)
#: The request parameters ``swarm init``/``join`` may carry these flags in.
LISTEN_PARAM, ADVERTISE_PARAM = "listen_addr", "advertise_addr"


class AddressError(ShoalError):
    """An address a daemon cannot listen on or advertise."""


@dataclass(frozen=True)
class Addresses:
    listen: tuple[str, int]  # where the transport binds
    advertise: str  # "address:port": the node's name to its peers

    @property
    def listen_text(self) -> str:
        return f"{self.listen[0]}:{self.listen[1]}"


def split(text: str) -> tuple[str, int | None]:
    """``HOST[:PORT]`` into its parts (``HOST`` an IPv4 address or an interface name)."""
    host, sep, port = text.rpartition(":")
    if not sep or is_ip(text):
        return text, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise AddressError("the port must be 1 to 65535")
    return host, int(port)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def interface_ipv4(name: str) -> str | None:
    """The one IPv4 address of interface ``name``; None when there is no such interface."""
    try:
        index = socket.if_nametoindex(name)
    except (OSError, ValueError):
        return None
    from pyroute2 import IPRoute  # only a daemon resolving an interface needs netlink

    with IPRoute() as ipr:
        found = sorted(
            str(message.get_attr("IFA_LOCAL"))
            for message in ipr.get_addr(family=socket.AF_INET, index=index)
        )
    if not found:
        raise AddressError(f"interface {name} has no usable IPv4 address")
    if len(found) > 1:
        raise AddressError(
            f"interface {name} has more than one IPv4 address ({found[0]} and {found[1]})"
        )
    return found[0]


def resolve(host: str, bad: str, *, wildcard_ok: bool) -> str:
    """``host`` as an IPv4 address: an interface's own, or the address itself."""
    address = interface_ipv4(host) if host else None
    if address is not None:
        return address
    try:
        parsed = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        raise AddressError(bad) from None
    if parsed.version != 4:
        raise AddressError("shoal speaks IPv4 only for now")
    if parsed.is_unspecified and not wildcard_ok:
        raise AddressError(bad)
    return str(parsed)


@contextlib.contextmanager
def flag(name: str, text: str) -> Iterator[None]:
    """Name the flag and its value in an address error."""
    try:
        yield
    except AddressError as error:
        raise AddressError(f"invalid --{name} {text!r}: {error}") from None


def listen_address(text: str) -> tuple[str, int]:
    with flag("listen-addr", text):
        host, port = split(text)
        return resolve(host, BAD_LISTEN, wildcard_ok=True), port or DEFAULT_PORT


def advertise_address(text: str, listen_port: int) -> str:
    with flag("advertise-addr", text):
        host, port = split(text)
        return f"{resolve(host, BAD_ADVERTISE, wildcard_ok=False)}:{port or listen_port}"


def daemon_addresses(listen: str, advertise: str | None) -> Addresses:
    """``shoal daemon``'s ``--listen-addr`` and ``--advertise-addr``, resolved."""
    bind = listen_address(listen)
    if advertise is None:
        if ipaddress.ip_address(bind[0]).is_unspecified:
            raise AddressError(
                f"--advertise-addr is required: --listen-addr {listen} listens on every "
                "address, and peers must be told the one that reaches this host "
                "(--advertise-addr ADDRESS[:PORT] or INTERFACE[:PORT])"
            )
        return Addresses(bind, f"{bind[0]}:{bind[1]}")
    return Addresses(bind, advertise_address(advertise, bind[1]))


def check_bindable(listen: tuple[str, int]) -> None:
    """Bind the listen address once, so that a daemon that could never join a swarm
    says so when it starts rather than at ``swarm init``."""
    try:
        socket.create_server(listen).close()
    except OSError as error:
        why = os.strerror(error.errno) if error.errno else str(error)
        raise AddressError(f"cannot listen on {listen[0]}:{listen[1]}: {why}") from None


def refusal(addresses: Addresses, param: str, asked: str) -> str | None:
    """Why ``swarm init``/``join --advertise-addr``/``--listen-addr`` ``asked`` is
    refused by the daemon of ``addresses`` (None: it names the daemon's own)."""
    try:
        if param == ADVERTISE_PARAM:
            mine, theirs = addresses.advertise, advertise_address(asked, addresses.listen[1])
        else:
            mine, theirs = addresses.listen_text, "{}:{}".format(*listen_address(asked))
    except AddressError as error:
        return str(error)
    if theirs == mine:
        return None
    option = "--" + param.replace("_", "-")
    return (
        f"{option} {asked} names {theirs}, but this node's daemon was started with "
        f"{option} {mine}: a node's addresses are fixed when its daemon starts "
        f"(restart shoal daemon with {option} {asked} to change them)"
    )


__all__ = [
    "ADVERTISE_PARAM",
    "DEFAULT_PORT",
    "LISTEN_PARAM",
    "AddressError",
    "Addresses",
    "advertise_address",
    "check_bindable",
    "daemon_addresses",
    "listen_address",
    "refusal",
]
