"""A calibration: what dockerd, the images and the network cost on a real machine, as
``shoal real calibrate`` measured them, for the simulator to use.

The file is YAML::

    measured: {at: ..., cpus: 2, dockerd: 20.10.24, ...}   # where and how (kept as is)
    cores: 2                      # the measured machine's cores
    engine:                       # each dockerd operation: waiting, then CPU work
      concurrency: 2              # operations one dockerd carries out at once
      op_cores: 1.3               # cores one operation keeps busy at most
      pull: {latency: 0.002, cpu: 0.004}
      sandbox: {latency: 0, cpu: 0.29}   # a task on an overlay network: its sandbox
      create: {latency: 0.01, cpu: 0.05}
      start: ...
      stop: ...
      remove: ...
    dataplane:                    # a host's data plane (sim.dataplane.DataplaneModel)
      program: {latency: 0.01, cpu: 0.03}   # any program of its networks
      network: {latency: 0.05, cpu: 0.1}    # more for each network new to the host
      attach: {latency: 0.01, cpu: 0.02}    # a task's sandbox joined to its networks
    network: {latency_min: 0.0001, latency_mean_extra: 0.00005}   # one way, per message
    images:                       # the images measured (sim.executor.ImageBehaviour)
      local/busybox:1: {pull_seconds: 0, start_seconds: 0, stop_signals: []}

Whether the simulated hosts share the measured machine's cores (test hosts on one
machine, as ``shoal real run`` builds them) or each has its own (``cluster.resources``,
as VMs do) is the run's choice, not the file's (``--one-machine``):
:attr:`Calibration.one_machine`.

Without ``--calibration`` a scenario runs with :data:`DEFAULT_PATH`, measured on the
machine shoal is developed and tested on.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from core.errors import ShoalError
from sim.dataplane import DATAPLANE_JOBS, FREE, DataplaneModel
from sim.dockerd import OPERATIONS, EngineModel, OpCost
from sim.executor import ImageBehaviour, parse_signal
from sim.network import LinkModel

#: This machine's calibration, the simulator's default for scenarios.
DEFAULT_PATH = Path(__file__).with_name("calibrations") / "default.yml"

_LINK_FIELDS = ("latency_min", "latency_mean_extra")
_IMAGE_NUMBERS = ("pull_seconds", "start_seconds", "stop_seconds")


class CalibrationError(ShoalError):
    """A calibration file that cannot be read, with the path and the field at fault."""

    def __init__(self, path: str, where: str, problem: str) -> None:
        super().__init__(f"{path}: {where + ': ' if where else ''}{problem}")


@dataclass(frozen=True)
class Calibration:
    engine: EngineModel = field(default_factory=EngineModel)
    dataplane: DataplaneModel = FREE
    cores: float = 2.0
    link: LinkModel = field(default_factory=LinkModel)
    images: dict[str, ImageBehaviour] = field(default_factory=dict)
    measured: dict[str, Any] = field(default_factory=dict)
    #: The run's hosts share the measured machine's cores (else each has its own).
    one_machine: bool = False
    #: Every message crosses as bytes through the codec (else as a value, every
    #: CODEC_CHECK_EVERY-th checked: sim/network.py). A run's choice too.
    strict_codec: bool = False

    def engine_model(self) -> EngineModel:
        """The dockerd model of a run."""
        return replace(self.engine, shared_cores=self.cores if self.one_machine else 0.0)

    def on_one_machine(self, one_machine: bool = True) -> Calibration:
        return replace(self, one_machine=one_machine)

    def with_strict_codec(self, strict: bool = True) -> Calibration:
        return replace(self, strict_codec=strict)


@functools.lru_cache(maxsize=1)
def default() -> Calibration:
    """This machine's calibration (:data:`DEFAULT_PATH`), read once."""
    return load(DEFAULT_PATH)


@functools.lru_cache(maxsize=8)
def from_text(text: str, name: str) -> Calibration:
    """A calibration carried as its file's text (to a sweep's workers), parsed once."""
    try:
        top = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CalibrationError(name, "", f"not YAML: {error}") from None
    return parse(top, name)


def load(path: str | Path) -> Calibration:
    """Read a calibration file; :class:`CalibrationError` names what is wrong."""
    return from_text(read(path), str(path))


def read(path: str | Path) -> str:
    """A calibration file's text."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CalibrationError(
            str(path), "", f"cannot read it: {error.strerror or error}"
        ) from None


def parse(top: Any, name: str = "<calibration>") -> Calibration:
    top = _mapping(top, name, "", ("measured", "cores", "engine", "dataplane", "network", "images"))
    engine = _mapping(
        top.get("engine", {}), name, "engine", ("concurrency", "op_cores", *OPERATIONS)
    )
    costs: dict[str, Any] = _costs(engine, name, "engine", OPERATIONS)
    dataplane = _mapping(top.get("dataplane", {}), name, "dataplane", DATAPLANE_JOBS)
    concurrency = engine.get("concurrency", 1)
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise CalibrationError(
            name, "engine.concurrency", f"a whole number >= 1, not {concurrency!r}"
        )
    op_cores = _number(engine.get("op_cores", 1.0), name, "engine.op_cores")
    if op_cores <= 0:
        raise CalibrationError(name, "engine.op_cores", f"more than 0, not {op_cores!r}")
    cores = top.get("cores", 2.0)
    if _number(cores, name, "cores") <= 0:
        raise CalibrationError(name, "cores", f"more than 0, not {cores!r}")
    link = _mapping(top.get("network", {}), name, "network", _LINK_FIELDS)
    measured = top.get("measured", {})
    if not isinstance(measured, dict):
        raise CalibrationError(name, "measured", "a mapping")
    return Calibration(
        engine=EngineModel(concurrency=concurrency, op_cores=op_cores, **costs),
        dataplane=DataplaneModel(**_costs(dataplane, name, "dataplane", DATAPLANE_JOBS)),
        cores=float(cores),
        link=LinkModel(**{k: _number(v, name, f"network.{k}") for k, v in link.items()}),
        images={
            str(image): _image(spec, name, f"images.{image}")
            for image, spec in _mapping(top.get("images", {}), name, "images", None).items()
        },
        measured=measured,
    )


def _costs(
    section: dict[str, Any], name: str, where: str, jobs: tuple[str, ...]
) -> dict[str, OpCost]:
    """Each job's ``{latency, cpu}`` in ``section`` (a job left out costs nothing)."""
    return {
        job: OpCost(
            **{
                k: _number(v, name, f"{where}.{job}.{k}")
                for k, v in _mapping(
                    section.get(job, {}), name, f"{where}.{job}", ("latency", "cpu")
                ).items()
            }
        )
        for job in jobs
    }


def _cost_text(cost: OpCost) -> dict[str, float]:
    return {"latency": _round(cost.latency), "cpu": _round(cost.cpu)}


def dump(calibration: Calibration, comment: str = "") -> str:
    """The file's text (``comment`` on top, a line each); :func:`parse` reads it back equal."""
    engine: dict[str, Any] = {
        "concurrency": calibration.engine.concurrency,
        "op_cores": _round(calibration.engine.op_cores),
    }
    for op in OPERATIONS:
        engine[op] = _cost_text(getattr(calibration.engine, op))
    top = {
        "measured": calibration.measured,
        "cores": calibration.cores,
        "engine": engine,
        "dataplane": {j: _cost_text(getattr(calibration.dataplane, j)) for j in DATAPLANE_JOBS},
        "network": {k: _round(getattr(calibration.link, k)) for k in _LINK_FIELDS},
        "images": {i: _image_text(b) for i, b in sorted(calibration.images.items())},
    }
    head = "".join(f"# {line}\n" if line else "#\n" for line in comment.splitlines())
    return head + yaml.safe_dump(top, sort_keys=False, default_flow_style=None, width=100)


def _round(value: float) -> float:
    return round(value, 6)


def _image_text(behaviour: ImageBehaviour) -> dict[str, Any]:
    text: dict[str, Any] = {k: _round(getattr(behaviour, k)) for k in _IMAGE_NUMBERS}
    text["stop_signals"] = list(behaviour.stop_signals)
    return text


def _image(node: Any, name: str, where: str) -> ImageBehaviour:
    spec = _mapping(node, name, where, (*_IMAGE_NUMBERS, "stop_signals"))
    values: dict[str, Any] = {
        k: _number(spec[k], name, f"{where}.{k}") for k in _IMAGE_NUMBERS if k in spec
    }
    if "stop_signals" in spec:
        signals = spec["stop_signals"]
        if not isinstance(signals, list):
            raise CalibrationError(name, f"{where}.stop_signals", "a list of signals")
        parsed = [parse_signal(str(s)) for s in signals]
        if None in parsed:
            raise CalibrationError(name, f"{where}.stop_signals", f"not signals: {signals}")
        values["stop_signals"] = tuple(s for s in parsed if s)
    return ImageBehaviour(**values)


def _mapping(node: Any, name: str, where: str, known: tuple[str, ...] | None) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise CalibrationError(name, where, "a mapping")
    if known is not None:
        unknown = sorted(str(k) for k in node if k not in known)
        if unknown:
            raise CalibrationError(
                name, where, f"unknown field {unknown[0]!r} (known: {', '.join(known)})"
            )
    return node


def _number(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CalibrationError(name, where, f"a number, not {value!r}")
    if value < 0:
        raise CalibrationError(name, where, f"not negative, not {value!r}")
    return float(value)


__all__ = [
    "DEFAULT_PATH",
    "Calibration",
    "CalibrationError",
    "default",
    "dump",
    "from_text",
    "load",
    "parse",
    "read",
]
