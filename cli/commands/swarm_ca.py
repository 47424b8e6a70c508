"""``docker swarm ca [--rotate] [--ca-cert FILE --ca-key FILE] [--cert-expiry DUR] [-d] [-q]``,
as docker/cli's ``swarm ca`` parses it, in its words.

Without ``--rotate`` it prints the swarm's root CA certificate; the flags that would
change the CA are refused then. With it, one ``SwarmUpdate`` starts a rotation (to a
new root, or to the one ``--ca-cert``/``--ca-key`` name), then, unless ``--detach``,
the CLI waits for the rotation to converge and, unless ``--quiet`` (which prints
nothing), shows its progress and prints the new root. ``--external-ca`` is refused:
shoal signs every certificate itself and has no external CA to hand the signing to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from cli.commands.common import Call
from cli.commands.flags import CommandParser, UsageError
from cli.commands.values import DURATION
from core.model.cluster import Cluster

ReadFile = Callable[[str], str]

EXTERNAL_CA_REFUSED: Final = (
    "--external-ca is not supported by shoal: it has no external CA to sign with; "
    "rotate to a root you hold with --ca-cert and --ca-key instead"
)
#: The flags that change the CA, refused without ``--rotate`` (docker/cli's order).
_CHANGING: Final = ("ca_cert", "ca_key", "cert_expiry", "external_ca")


def _pem_file(path: str, read_file: ReadFile) -> str:
    """``PEMFile.Set``: the file's text, which must hold a PEM block."""
    try:
        text = read_file(path)
    except OSError as error:
        raise UsageError(f"open {path}: {(error.strerror or str(error)).lower()}") from None
    if "-----BEGIN " not in text or "-----END " not in text:
        raise UsageError("file contents must be in PEM format")
    return text


def ca(argv: Sequence[str], read_file: ReadFile) -> list[Call]:
    parser = CommandParser("swarm ca", most=0)
    parser.add_argument("--rotate", action="store_true")
    parser.add_argument("--ca-cert")
    parser.add_argument("--ca-key")
    parser.add_argument("--cert-expiry", type=DURATION)
    parser.add_argument("--external-ca", action="append")
    parser.add_argument("-d", "--detach", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true")
    flags, _ = parser.parse(argv)
    view = {"quiet": flags.quiet}
    if not flags.rotate:
        for name in _CHANGING:
            if getattr(flags, name) is not None:
                flag = name.replace("_", "-")
                raise UsageError(f"`--{flag}` flag requires the `--rotate` flag to update the CA")
        return [Call("SwarmInspect", show="ca", view=view, refuse=_no_root)]
    if flags.external_ca is not None:
        raise UsageError(EXTERNAL_CA_REFUSED)
    if flags.ca_cert is not None and flags.ca_key is None:
        raise UsageError(
            "the --ca-cert flag requires that a --ca-key flag and/or --external-ca flag "
            "be provided as well"
        )
    params: dict[str, object] = {"node_cert_expiry_ns": flags.cert_expiry}
    if flags.ca_cert is not None or flags.ca_key is not None:
        params["ca_cert"] = _pem_file(flags.ca_cert, read_file) if flags.ca_cert else ""
        params["ca_key"] = _pem_file(flags.ca_key, read_file)
    else:
        params["rotate_ca"] = True
    rotate = Call("SwarmUpdate", params, show="none", view={"ca": "rotate"})
    if flags.detach:
        return [rotate]
    # after the wait, the new root; with -q, nothing at all (docker/cli's attach)
    shown = "none" if flags.quiet else "ca"
    return [rotate, Call("SwarmInspect", show=shown, view={**view, "wait": True}, refuse=_no_root)]


def _no_root(cluster: Cluster) -> str | None:
    """docker/cli's displayTrustRoot: a swarm without a root is an error."""
    return None if str(cluster.tls_info.trust_root).strip() else "No CA information available"
