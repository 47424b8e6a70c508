"""Secrets and configs: named blobs handed to tasks as files.

``Data`` is base64 text on the wire (Go's ``[]byte``); it is kept as that text so the
JSON round trip is exact. Docker never shows a secret's data; a config's is shown.
"""

from __future__ import annotations

from core.model.common import Annotated, Driver, StoredObject
from core.model.wire import model, wire


@model
class SecretSpec(Annotated):
    data: str = wire("Data", default="")
    driver: Driver | None = wire("Driver", default=None)
    templating: Driver | None = wire("Templating", default=None)


@model
class Secret(StoredObject):
    spec: SecretSpec = wire("Spec", default_factory=SecretSpec)


@model
class ConfigSpec(Annotated):
    data: str = wire("Data", default="")
    templating: Driver | None = wire("Templating", default=None)


@model
class Config(StoredObject):
    spec: ConfigSpec = wire("Spec", default_factory=ConfigSpec)
