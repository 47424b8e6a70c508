"""Docker's ``filters`` query parameter: JSON mapping a filter name to the values
wanted, as a list (``{"name": ["web"]}``) or in the older form (``{"name": {"web":
true}}``). Values of one name are alternatives; names must all match. Each list
endpoint accepts its own names, and refuses any other as dockerd does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from real.engine.errors import bad_request
from real.engine.json_text import load_json


@dataclass(frozen=True)
class Filters:
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, name: str) -> tuple[str, ...]:
        return self.values.get(name, ())

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def exact(self, name: str, value: str) -> bool:
        """No filter on ``name``, or ``value`` is one of those wanted."""
        wanted = self.get(name)
        return not wanted or value in wanted

    def any_of(self, name: str, values: Iterable[str]) -> bool:
        """No filter on ``name``, or one of ``values`` is wanted."""
        wanted = self.get(name)
        return not wanted or any(v in wanted for v in values)

    def prefix(self, name: str, value: str) -> bool:
        """No filter on ``name``, or ``value`` starts with one of those wanted (IDs)."""
        wanted = self.get(name)
        return not wanted or any(value.startswith(w) for w in wanted)

    def labels(self, name: str, labels: Mapping[str, str]) -> bool:
        """Every wanted ``key`` is set, and every ``key=value`` set to that value."""
        for wanted in self.get(name):
            key, has_value, value = wanted.partition("=")
            if key not in labels or (has_value and labels[key] != value):
                return False
        return True


def parse(text: str | None, accepted: Iterable[str]) -> Filters:
    """The filters of a request, refused with dockerd's 400 when the JSON is not a
    filter mapping or names a filter the endpoint does not take."""
    if not text:
        return Filters()
    raw = load_json(text, "invalid filter")
    if not isinstance(raw, dict):
        raise bad_request("invalid filter: the filters must be a JSON object")
    values: dict[str, tuple[str, ...]] = {}
    for name, wanted in raw.items():
        if isinstance(wanted, list) and all(isinstance(v, str) for v in wanted):
            values[name] = tuple(wanted)
        elif isinstance(wanted, dict) and all(isinstance(v, bool) for v in wanted.values()):
            values[name] = tuple(k for k, on in wanted.items() if on)
        else:
            raise bad_request(f"invalid filter: the values of {name!r} must be a list of strings")
    allowed = set(accepted)
    for name in sorted(values):
        if name not in allowed:
            raise bad_request(f"Invalid filter '{name}'")
    return Filters(values)
