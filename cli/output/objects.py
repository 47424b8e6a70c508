"""How the docker CLI prints secrets and configs: ``ls`` (by name in natural order,
``CREATED``/``UPDATED`` as "2 hours ago"), and ``inspect --pretty`` (Go's time
string with all but its first letter lower-cased, as ``formatter.PrettyPrint``
makes it; a config's data shown, a secret's never)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from functools import cmp_to_key

from cli.output.networks import go_time_string
from cli.output.tables import human_duration
from cli.output.template import Fields
from cli.output.views import Header, listing, natural_order
from core.model.secret import Config, Secret

SECRET_HEADER = Header(
    "*formatter.secretContext",
    "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}",
    {
        "ID": "ID",
        "Name": "NAME",
        "Driver": "DRIVER",
        "CreatedAt": "CREATED",
        "UpdatedAt": "UPDATED",
        "Labels": "LABELS",
    },
)
CONFIG_HEADER = Header(
    "*formatter.configContext",
    "table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}",
    {
        "ID": "ID",
        "Name": "NAME",
        "CreatedAt": "CREATED",
        "UpdatedAt": "UPDATED",
        "Labels": "LABELS",
    },
)


def object_ls(
    kind: str,
    objects: Sequence[Secret | Config],
    now: float,
    *,
    fmt: str | None = None,
    quiet: bool = False,
) -> str:
    by_name = cmp_to_key(natural_order)
    ordered = sorted(objects, key=lambda o: by_name(o.spec.name))
    header = SECRET_HEADER if kind == "secret" else CONFIG_HEADER

    def row(obj: Secret | Config) -> Fields:
        fields = {
            "ID": obj.id,
            "Name": obj.spec.name,
            "CreatedAt": f"{human_duration(now - obj.created_at.seconds())} ago",
            "UpdatedAt": f"{human_duration(now - obj.updated_at.seconds())} ago",
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(obj.spec.labels.items())),
        }
        if isinstance(obj, Secret):
            fields["Driver"] = obj.spec.driver.name if obj.spec.driver is not None else ""
        return Fields(header.kind, fields)

    return listing([row(o) for o in ordered], [o.id for o in ordered], header, fmt, quiet)


def _pretty_time(obj: Secret | Config, key: str) -> str:
    text = go_time_string(str(obj.to_json()[key]))
    return text[:1].upper() + text[1:].lower()


def object_pretty(objects: Sequence[Secret | Config]) -> str:
    blocks = []
    for obj in objects:
        labels = [f" - {k}={v}" if v else f" - {k}" for k, v in sorted(obj.spec.labels.items())]
        if isinstance(obj, Secret):
            driver = obj.spec.driver.name if obj.spec.driver is not None else ""
            lines = [
                f"ID:              {obj.id}",
                f"Name:              {obj.spec.name}",
                *(["Labels:", *labels] if labels else []),
                f"Driver:            {driver}",
                f"Created at:        {_pretty_time(obj, 'CreatedAt')}",
                f"Updated at:        {_pretty_time(obj, 'UpdatedAt')}",
            ]
        else:
            lines = [
                f"ID:\t\t\t{obj.id}",
                f"Name:\t\t\t{obj.spec.name}",
                *(["Labels:", *labels] if labels else []),
                f"Created at:            \t{_pretty_time(obj, 'CreatedAt')}",
                f"Updated at:            \t{_pretty_time(obj, 'UpdatedAt')}",
                "Data:",
                base64.b64decode(obj.spec.data).decode(errors="replace"),
            ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
