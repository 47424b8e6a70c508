"""``docker network create|ls|inspect|rm``, and the ``--network`` value services
take: Docker's flags, turned into requests for a manager.

shoal models swarm networks only: ``create`` uses the overlay driver unless told
otherwise, and a driver local to one host (bridge, macvlan...) is refused, in the
words of the Engine API layer, which makes the same request body into a network
spec as dockerd does. The ``--subnet``/``--ip-range``/``--gateway`` checks are the
docker CLI's own (``consolidateIpam``), made before anything is sent.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import Any

from cli.commands.common import Call, listing_flags
from cli.commands.flags import CommandParser, UsageError, go_value
from cli.commands.values import key_value
from cli.output.networks import NETWORK_FILTERS, check_filters
from cli.output.template import check
from core.model.network import NetworkSpec
from core.model.service import NetworkAttachmentConfig
from core.model.wire import Labels
from real.engine.errors import EngineError
from real.engine.network_json import network_spec

DEFAULT_DRIVER = "overlay"  # dockerd's is bridge, a network of one host: not modelled
DEFAULT_IPAM_DRIVER = "default"

# -- create --------------------------------------------------------------------------------


def _label(text: str) -> str:
    """The docker CLI's ``ValidateLabel``."""
    key = text.split("=", 1)[0].lstrip(" \t")
    if not key:
        raise ValueError(f"invalid label '{text}': empty name")
    if any(c in key for c in " \t"):
        raise ValueError(f"label '{key}' contains whitespaces")
    return text


def _reason(parse: Callable[[str], object]) -> Callable[[str], str]:
    """Go's reason for refusing ``text``: the message ``parse`` raised for it."""

    def reason(text: str) -> str:
        try:
            parse(text)
        except ValueError as error:
            return str(error)
        return "invalid value"

    return reason


LABEL = go_value(_label, _reason(_label))


def _string_slice(text: str) -> list[str]:
    """pflag's ``StringSlice``: one flag may carry several values, comma separated
    (as CSV, quotes allowed)."""
    if not text:
        return []
    return next(csv.reader([text]))


def create_parser() -> CommandParser:
    parser = CommandParser("network create", least=1, most=1)
    parser.add_argument("-d", "--driver", default=DEFAULT_DRIVER)
    parser.add_argument("-o", "--opt", action="append", default=[])
    parser.add_argument("--label", action="append", default=[], type=LABEL)
    parser.add_argument("--internal", action="store_true")
    parser.add_argument("--ipv6", action="store_true")
    parser.add_argument("--attachable", action="store_true")
    parser.add_argument("--ingress", action="store_true")
    parser.add_argument("--scope", default="")
    parser.add_argument("--ipam-driver", default=DEFAULT_IPAM_DRIVER)
    parser.add_argument("--ipam-opt", action="append", default=[])
    for name in ("subnet", "ip-range", "gateway"):
        parser.add_argument(f"--{name}", action="append", default=[])
    return parser


def create(argv: Sequence[str]) -> Call:
    """``docker network create [OPTIONS] NETWORK``: prints the new network's ID."""
    flags, (name,) = create_parser().parse(argv)
    subnets = [s for text in flags.subnet for s in _string_slice(text)]
    ranges = [r for text in flags.ip_range for r in _string_slice(text)]
    gateways = [g for text in flags.gateway for g in _string_slice(text)]
    body = {  # the docker CLI's NetworkCreateRequest
        "Name": name,
        "CheckDuplicate": True,
        "Driver": flags.driver,
        "Scope": flags.scope,
        "EnableIPv6": flags.ipv6,
        "IPAM": {
            "Driver": flags.ipam_driver,
            "Config": consolidate_ipam(subnets, ranges, gateways),
            "Options": dict(key_value(o) for o in flags.ipam_opt),
        },
        "Internal": flags.internal,
        "Attachable": flags.attachable,
        "Ingress": flags.ingress,
        "ConfigOnly": False,
        "Options": dict(key_value(o) for o in flags.opt),
        "Labels": dict(key_value(label) for label in flags.label),
    }
    return Call("NetworkCreate", {"spec": swarm_spec(body)}, show="id")


def swarm_spec(body: dict[str, Any]) -> NetworkSpec:
    """The request as dockerd makes it into a swarm network's spec (the Engine API
    layer's conversion, with its refusals: a predefined name, a local driver...)."""
    try:
        return network_spec(body)
    except EngineError as error:
        raise UsageError(error.message) from None


def consolidate_ipam(
    subnets: list[str], ranges: list[str], gateways: list[str]
) -> list[dict[str, Any]]:
    """The docker CLI's ``consolidateIpam``: every range and gateway within one of
    the subnets (each at most once per subnet), subnets not overlapping; one IPAM
    config per subnet, in the order given."""
    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise UsageError("every ip-range or gateway must have a corresponding subnet")
    configs: dict[str, dict[str, Any]] = {}
    for subnet in subnets:
        for other in configs:
            if _contains(subnet, other) or _contains(other, subnet):
                raise UsageError("multiple overlapping subnet configuration is not supported")
        configs[subnet] = {"Subnet": subnet, "AuxiliaryAddresses": {}}
    for key, word, values in (("IPRange", "range", ranges), ("Gateway", "gateway", gateways)):
        for value in values:
            matched = False
            for subnet in subnets:
                if not _contains(subnet, value):
                    continue
                if configs[subnet].get(key):
                    plural = "ranges" if key == "IPRange" else "gateways"
                    where = "on the same subnet" if key == "IPRange" else "for the same subnet"
                    raise UsageError(
                        f"cannot configure multiple {plural} ({value}, {configs[subnet][key]}) "
                        f"{where} ({subnet})"
                    )
                configs[subnet][key] = value
                matched = True
            if not matched:
                raise UsageError(f"no matching subnet for {word} {value}")
    return list(configs.values())


def _cidr(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """Go's ``net.ParseCIDR`` (an address and a prefix length), with its error."""
    try:
        if "/" not in text:
            raise ValueError(text)
        return ipaddress.ip_interface(text)
    except ValueError:
        raise UsageError(f"invalid CIDR address: {text}") from None


def _contains(subnet: str, data: str) -> bool:
    """The docker CLI's ``subnetMatches``: whether ``data`` (an address, or a CIDR's
    address) lies in ``subnet``."""
    try:
        network = _cidr(subnet).network
    except UsageError as error:
        raise UsageError(f"invalid subnet: {error.message}") from None
    if "/" in data:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = _cidr(data).ip
    else:
        try:
            address = ipaddress.ip_address(data)
        except ValueError:
            return False  # Go's ParseIP gives nil, which no subnet contains
    return address.version == network.version and address in network


# -- ls, inspect, rm ----------------------------------------------------------------------------


def listing(argv: Sequence[str]) -> Call:
    """``docker network ls [-q] [--no-trunc] [-f KEY=VALUE] [--format TEMPLATE]``:
    names and ID prefixes go to the swarm as dockerd sends them; the rest of
    dockerd's filters are applied to what it answers."""
    view, _ = listing_flags("network ls", NETWORK_FILTERS, argv)
    check_filters(view["filters"])
    names = [v for k, v in view["filters"] if k == "name"]
    ids = [v for k, v in view["filters"] if k == "id"]
    return Call("NetworkList", {"names": names, "id_prefixes": ids}, show="network ls", view=view)


def inspect(argv: Sequence[str]) -> list[Call]:
    """``docker network inspect [-f FORMAT] NETWORK [NETWORK...]``."""
    parser = CommandParser("network inspect", least=1)
    parser.add_argument("-f", "--format")
    flags, networks = parser.parse(argv)
    check(flags.format, listing=False)
    view = {"format": flags.format}
    return [
        Call("NetworkInspect", {"network": n}, show="network inspect", view=view) for n in networks
    ]


def remove(argv: Sequence[str]) -> list[Call]:
    """``docker network rm NETWORK [NETWORK...]``: each one removed prints as named."""
    _, networks = CommandParser("network rm", least=1).parse(argv)
    return [Call("NetworkRemove", {"network": n}, show="network rm") for n in networks]


# -- a service's --network -----------------------------------------------------------------------

_LONG_SYNTAX = re.compile(r"\w+=\w+(,\w+=\w+)*")


def _attachment(text: str) -> NetworkAttachmentConfig:
    """The docker CLI's ``NetworkOpt``: a network's name or ID, or the long
    ``name=NET,alias=A,driver-opt=k=v`` (keys and values lower-cased, as Docker
    does; ``ip``/``ip6`` are taken and, as for any service, unused)."""
    if not _LONG_SYNTAX.search(text):
        return NetworkAttachmentConfig(target=text)
    target, aliases, options = "", [], {}
    for field in next(csv.reader([text]), []):
        key, sep, value = field.partition("=")
        if not sep:
            raise ValueError(f"invalid field {field}")
        key, value = key.strip().lower(), value.strip().lower()
        if key == "name":
            target = value
        elif key == "alias":
            aliases.append(value)
        elif key == "driver-opt":
            option, sep, setting = value.partition("=")
            if not sep:
                raise ValueError("invalid key value pair format in driver options")
            options[option.strip().lower()] = setting.strip().lower()
        elif key not in ("ip", "ip6"):
            raise ValueError(f"invalid field key {key}")
    if not target:
        raise ValueError("network name/id is not specified")
    return NetworkAttachmentConfig(
        target=target, aliases=tuple(aliases), driver_opts=Labels(options)
    )


#: ``--network``, ``--network-add``.
ATTACHMENT = go_value(_attachment, _reason(_attachment))
