"""``docker stack ls``: each stack (a value of the label
``com.docker.stack.namespace`` among the services) with its number of services,
in natural order of name, as docker/cli prints it (``NAME SERVICES``: the
``ORCHESTRATOR`` column went with Kubernetes stacks)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cmp_to_key

from cli.output.template import Fields
from cli.output.views import Header, listing, natural_order

STACK_HEADER = Header(
    "*stack.stackContext",
    "table {{.Name}}\t{{.Services}}",
    {"Name": "NAME", "Services": "SERVICES"},
)


def stack_ls(counts: Mapping[str, int], fmt: str | None = None) -> str:
    """``counts``: services by stack name."""
    names = sorted(counts, key=cmp_to_key(natural_order))
    rows = [Fields(STACK_HEADER.kind, {"Name": n, "Services": str(counts[n])}) for n in names]
    return listing(rows, names, STACK_HEADER, None if fmt == "table" else fmt, quiet=False)
