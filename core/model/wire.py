"""Docker's JSON for shoal's frozen model objects, with Go's encoding rules.

Every model class is a frozen, slotted, keyword-only dataclass whose fields are
declared with :func:`wire`, naming the JSON key and whether the Go struct tag says
``omitempty``. The codec is derived once per class from the type hints:

- ``int``/``float``/``str``/``bool``: Go value fields; with ``omitempty`` they are left
  out when zero, and a missing key reads as the zero value;
- ``X | None``: a Go pointer (or slice/map that may be nil); ``None`` is left out
  with ``omitempty`` and written as ``null`` without it;
- ``SomeEnum | None``: a Go string type whose zero value ``""`` reads as ``None``;
- ``tuple[X, ...]`` and :class:`Labels`: Go slices and ``map[string]string``;
- :class:`~core.model.timestamp.Timestamp` and nested model classes: Go structs,
  which ``omitempty`` never leaves out.

A key Docker sends that a class does not declare is an error, not silently dropped:
the golden tests rely on that to prove the model covers Docker's objects.
"""

from __future__ import annotations

import dataclasses
import enum
import operator
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Self, TypeVar, dataclass_transform

from core.errors import InvalidSpec
from core.model.timestamp import GO_ZERO_TIME, Timestamp

JSON = Any
"""A decoded JSON value (dict, list, str, int, float, bool or None)."""

T = TypeVar("T")


class Labels(Mapping[str, str]):
    """An immutable, hashable ``map[string]string`` (labels, options, sysctls).

    Iteration is in sorted key order, which is also the order Go writes map keys, so
    encoding never depends on insertion order or the process's hash seed.
    """

    __slots__ = ("_hash", "_items")

    def __init__(self, items: Mapping[str, str] | None = None, /, **more: str) -> None:
        merged = dict(items or {})
        merged.update(more)
        self._items: dict[str, str] = {k: merged[k] for k in sorted(merged)}
        self._hash: int | None = None

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(self._items.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Labels):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Labels({self._items!r})"

    def updated(self, changes: Mapping[str, str]) -> Labels:
        """A copy with ``changes`` added or overwritten."""
        return Labels({**self._items, **changes})

    def without(self, keys: typing.Iterable[str]) -> Labels:
        """A copy without ``keys`` (missing keys are ignored)."""
        drop = set(keys)
        return Labels({k: v for k, v in self._items.items() if k not in drop})


_NO_LABELS = Labels()


@dataclasses.dataclass(frozen=True, slots=True)
class WireKey:
    """The JSON side of one field: its key and Go's ``omitempty``."""

    key: str
    omitempty: bool


def wire(
    key: str,
    *,
    omitempty: bool = True,
    default: Any = dataclasses.MISSING,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
) -> Any:
    """Declare a model field carried under JSON ``key``."""
    metadata = {"wire": WireKey(key, omitempty)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(wire,))
def model(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen, slotted, keyword-only dataclass with a JSON codec."""
    return dataclasses.dataclass(frozen=True, slots=True, kw_only=True)(cls)


# -- field codecs -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Codec:
    """How one Python type reads from and writes to JSON."""

    decode: Callable[[JSON, str], Any]
    encode: Callable[[Any], JSON]
    zero: Callable[[], Any]
    is_zero: Callable[[Any], bool]
    # The same reading without the path bookkeeping, for well-formed input: raises
    # (anything) wherever ``decode`` would, and the strict reading then says why.
    fast: Callable[[JSON], Any]
    # str, int or bool: written as is and read by an exact type check, which the
    # generated codecs do inline
    scalar: type | None = None


class _Slow(Exception):
    """The fast reading met something the strict one must judge (and word)."""


def _never_zero(_: Any) -> bool:
    return False


def _scalar(kind: type, zero: Any, expected: str) -> _Codec:
    def decode(value: JSON, path: str) -> Any:
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise InvalidSpec(path, value, f"expected {expected}")
        return value

    def fast(value: JSON) -> Any:
        if type(value) is kind:
            return value
        if kind is float and type(value) is int:
            return float(value)
        raise _Slow

    encode = _encode_float if kind is float else _identity
    scalar = None if kind is float else kind
    return _Codec(decode, encode, lambda: zero, lambda v: bool(v == zero), fast, scalar)


def _identity(value: Any) -> Any:
    return value


def _encode_float(value: float) -> float | int:
    """Go's encoding/json writes integral floats without a point (``0``, not ``0.0``)."""
    return int(value) if value.is_integer() else value


_SCALARS: dict[type, _Codec] = {
    bool: _scalar(bool, False, "a boolean"),
    int: _scalar(int, 0, "an integer"),
    float: _scalar(float, 0.0, "a number"),
    str: _scalar(str, "", "a string"),
}


def _timestamp_codec() -> _Codec:
    def decode(value: JSON, path: str) -> Timestamp:
        if not isinstance(value, str):
            raise InvalidSpec(path, value, "expected an RFC 3339 timestamp string")
        return Timestamp.parse(value, path)

    def fast(value: JSON) -> Timestamp:
        if type(value) is not str:
            raise _Slow
        return Timestamp.parse(value)

    return _Codec(decode, lambda v: v.format(), lambda: GO_ZERO_TIME, _never_zero, fast)


def _labels_codec() -> _Codec:
    def decode(value: JSON, path: str) -> Labels:
        if not isinstance(value, dict):
            raise InvalidSpec(path, value, "expected an object of strings")
        for key, item in value.items():
            if not isinstance(item, str):
                raise InvalidSpec(f"{path}.{key}", item, "expected a string")
        return Labels(value)

    def fast(value: JSON) -> Labels:
        if type(value) is not dict or any(type(item) is not str for item in value.values()):
            raise _Slow
        return Labels(value) if value else _NO_LABELS  # most maps are empty: share one

    return _Codec(decode, lambda v: dict(v.items()), Labels, lambda v: len(v) == 0, fast)


_USE_DEFAULT: Any = object()
"""Zero marker: a missing key takes the dataclass field's default."""


def _enum_name(value: enum.Enum) -> str:
    return str(getattr(value, "wire_name", value.value))


def _enum_codec(kind: type[enum.Enum], optional: bool) -> _Codec:
    """A Go string type. As ``X | None``, ``None`` stands for its zero value ``""``;
    as plain ``X`` the key is always written and a missing key takes the default.
    Enums may spell themselves on the wire with a ``wire_name`` property."""

    by_name = {_enum_name(member): member for member in kind}
    names = {member: name for name, member in by_name.items()}

    def decode(value: JSON, path: str) -> enum.Enum | None:
        if value == "" and optional:
            return None
        member = by_name.get(value) if isinstance(value, str) else None
        if member is None:
            allowed = ", ".join(by_name)
            raise InvalidSpec(path, value, f"must be one of {allowed}")
        return member

    def encode(value: enum.Enum | None) -> str:
        return "" if value is None else names[value]

    def fast(value: JSON) -> enum.Enum | None:
        if value == "" and optional:
            return None
        return by_name[value]

    if optional:
        return _Codec(decode, encode, lambda: None, lambda v: v is None, fast)
    return _Codec(decode, encode, lambda: _USE_DEFAULT, _never_zero, fast)


def _tuple_codec(item: _Codec) -> _Codec:
    def decode(value: JSON, path: str) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise InvalidSpec(path, value, "expected an array")
        return tuple(
            item.decode(element, f"{path}[{index}]") for index, element in enumerate(value)
        )

    item_fast = item.fast

    def fast(value: JSON) -> tuple[Any, ...]:
        if type(value) is not list:
            raise _Slow
        return tuple([item_fast(element) for element in value])

    return _Codec(decode, lambda v: [item.encode(e) for e in v], tuple, lambda v: len(v) == 0, fast)


def _model_codec(kind: type[WireModel]) -> _Codec:
    def decode(value: JSON, path: str) -> WireModel:
        if not isinstance(value, dict):
            raise InvalidSpec(path, value, "expected an object")
        return kind.from_json(value, path)

    def fast(value: JSON) -> WireModel:
        if type(value) is not dict:
            raise _Slow
        return kind._from_json_fast(value)

    return _Codec(decode, lambda v: v.to_json(), lambda: kind.from_json({}), _never_zero, fast)


def _pointer_codec(inner: _Codec) -> _Codec:
    def decode(value: JSON, path: str) -> Any:
        return None if value is None else inner.decode(value, path)

    def encode(value: Any) -> JSON:
        return None if value is None else inner.encode(value)

    inner_fast = inner.fast

    def fast(value: JSON) -> Any:
        return None if value is None else inner_fast(value)

    return _Codec(decode, encode, lambda: None, lambda v: v is None, fast)


def _codec_for(hint: Any) -> _Codec:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(members) != 1:
            raise TypeError(f"unsupported union {hint!r}")
        (inner,) = members
        if isinstance(inner, type) and issubclass(inner, enum.Enum):
            return _enum_codec(inner, optional=True)
        return _pointer_codec(_codec_for(inner))
    if origin is tuple:
        item, ellipsis = typing.get_args(hint)
        if ellipsis is not Ellipsis:
            raise TypeError(f"only tuple[X, ...] is supported, not {hint!r}")
        return _tuple_codec(_codec_for(item))
    if hint in _SCALARS:
        return _SCALARS[hint]
    if hint is Timestamp:
        return _timestamp_codec()
    if hint is Labels:
        return _labels_codec()
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_codec(hint, optional=False)
    if isinstance(hint, type) and issubclass(hint, WireModel):
        return _model_codec(hint)
    raise TypeError(f"no JSON codec for {hint!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str
    key: str
    omitempty: bool
    codec: _Codec


#: JSON of recently written objects, by identity (the object is held, so its id
#: cannot be reused while the entry lives); emptied when full.
_JSON_KEPT: dict[int, tuple[WireModel, dict[str, JSON]]] = {}
_JSON_KEPT_MAX = 65_536


# The types the class-level caches hold, built once (a subscript in a cast would
# build a new generic alias on every call).
_Fields = tuple[_Field, ...]
_Keys = frozenset[str]
_Plan = tuple[tuple[str, str, Callable[[JSON], Any], bool, Any], ...]


def without(shown: Mapping[str, JSON], keys: Iterable[str]) -> dict[str, JSON]:
    """A new dict of ``shown`` (an object's JSON) less ``keys``. ``to_json`` hands out
    the JSON it keeps for the object, which the object's next encoding (a message, a
    Raft entry) reuses: it must never be changed in place."""
    dropped = frozenset(keys)
    return {key: value for key, value in shown.items() if key not in dropped}


class WireModel:
    """Base of model classes: ``to_json`` and ``from_json`` in Docker's shape."""

    __slots__ = ()

    @classmethod
    def _fields(cls) -> tuple[_Field, ...]:
        cached = cls.__dict__.get("_wire_cache")
        if cached is not None:
            return typing.cast(_Fields, cached)
        hints = typing.get_type_hints(cls)
        built = []
        for spec in dataclasses.fields(typing.cast(Any, cls)):
            key = spec.metadata.get("wire")
            if key is None:
                raise TypeError(f"{cls.__name__}.{spec.name} is not declared with wire()")
            built.append(_Field(spec.name, key.key, key.omitempty, _codec_for(hints[spec.name])))
        fields = tuple(built)
        type.__setattr__(cls, "_wire_cache", fields)
        return fields

    @classmethod
    def _wire_keys(cls) -> frozenset[str]:
        cached = cls.__dict__.get("_wire_keys_cache")
        if cached is None:
            cached = frozenset(field.key for field in cls._fields())
            type.__setattr__(cls, "_wire_keys_cache", cached)
        return typing.cast(_Keys, cached)

    def to_json(self) -> dict[str, JSON]:
        """This object as Docker writes it: Go key names, ``omitempty`` applied.

        Objects are immutable and shared (one task spec in thousands of tasks, one task
        in an assignment and a log entry), so the JSON of recent ones is kept and
        handed out again: callers must not change what they get."""
        key = id(self)
        known = _JSON_KEPT.get(key)
        if known is not None and known[0] is self:
            return known[1]
        out = self._to_json()
        if len(_JSON_KEPT) >= _JSON_KEPT_MAX:
            _JSON_KEPT.clear()
        _JSON_KEPT[key] = (self, out)
        return out

    def _to_json(self) -> dict[str, JSON]:
        encode = type(self).__dict__.get("_wire_encoder")
        if encode is None:
            encode = _generated_encoder(type(self))
        return typing.cast(dict[str, JSON], encode(self))

    @classmethod
    def _reading_plan(cls) -> _Plan:
        """Per field: name, key, fast reader, whether a missing key takes the
        dataclass default, and the zero value otherwise (shared: values are frozen)."""
        cached = cls.__dict__.get("_wire_plan")
        if cached is None:
            plan = []
            for field in cls._fields():
                zero = field.codec.zero()
                use_default = zero is _USE_DEFAULT
                plan.append((field.name, field.key, field.codec.fast, use_default, zero))
            cached = tuple(plan)
            type.__setattr__(cls, "_wire_plan", cached)
        return typing.cast(_Plan, cached)

    @classmethod
    def _from_json_fast(cls, data: Mapping[str, JSON]) -> Self:
        read = cls.__dict__.get("_wire_reader")
        if read is None:
            read = _generated_reader(cls)
        return typing.cast(Self, read(data))

    @classmethod
    def from_json(cls, data: Mapping[str, JSON], path: str | None = None) -> Self:
        """Read Docker's JSON; unknown keys and ill-typed values raise InvalidSpec.

        Well-formed input takes a fast reading; anything it stumbles on is read again
        strictly, field by field, so that the error names the path. ``null`` reads as
        Go reads it: nil for a pointer, the zero value for anything else (the docker
        CLI sends ``"Labels": null``), and a key that names no field matches one ignoring
        case, as Go matches keys."""
        try:
            return cls._from_json_fast(data)
        except Exception:
            pass
        where = path or cls.__name__
        fields = cls._fields()
        known = cls._wire_keys()
        if not known.issuperset(data):
            data = _folded(data, known)
        if not known.issuperset(data):
            key = min(k for k in data if k not in known)
            raise InvalidSpec(f"{where}.{key}", data[key], f"unknown field of {cls.__name__}")
        values = {}
        for field in fields:
            if field.key in data:
                raw, at = data[field.key], f"{where}.{field.key}"
                if raw is not None:
                    values[field.name] = field.codec.decode(raw, at)
                    continue
                try:  # Go reads null into a pointer as nil...
                    values[field.name] = field.codec.decode(raw, at)
                    continue
                except InvalidSpec:  # ...and into a map, slice or value as its zero
                    pass
            zero = field.codec.zero()
            if zero is not _USE_DEFAULT:
                values[field.name] = zero
        return cls(**values)


def _folded(data: Mapping[str, JSON], known: frozenset[str] | set[str]) -> Mapping[str, JSON]:
    """Keys as Go's encoding/json matches them: a key that names no field exactly
    takes the field whose name it equals ignoring case (docker-py sends
    ``{"replicated": ...}`` for ``Replicated``); an exact key wins over a folded one."""
    by_fold = {key.casefold(): key for key in sorted(known)}
    folded: dict[str, JSON] = {}
    for key in sorted(data, key=lambda k: k not in known):  # exact keys first
        name = key if key in known else by_fold.get(key.casefold(), key)
        if name not in folded:
            folded[name] = data[key]
    return folded


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of a model object with ``changes`` (``dataclasses.replace``, typed).

    Every stored write stamps a copy on every manager: model classes take a short
    path (all fields read by one ``attrgetter`` and set on a new object, as the
    frozen ``__init__`` would) instead of the generic one (field list, checks, a
    keyword call), which took 5 µs of it."""
    copier = type(obj).__dict__.get("_wire_copier")
    if copier is None:
        if not isinstance(obj, WireModel):
            return typing.cast(T, dataclasses.replace(typing.cast(Any, obj), **changes))
        copier = _copier(type(obj))
    return typing.cast(T, copier(obj, changes))


def _copier(cls: type[WireModel]) -> Callable[[Any, dict[str, Any]], Any]:
    """Each field's slot written straight through its descriptor (no attribute
    lookup, past the frozen ``__setattr__``): all of them from the original, then the
    few that change. 6 µs for a task instead of 10."""
    names = tuple(spec.name for spec in dataclasses.fields(typing.cast(Any, cls)))
    known = frozenset(names)
    values_of = _values_getter(names)
    setters = tuple(_slot(cls, name).__set__ for name in names)
    setter_of = dict(zip(names, setters, strict=True))
    new_object = object.__new__

    def copy(obj: Any, changes: dict[str, Any]) -> Any:
        if not known.issuperset(changes):
            unknown = min(set(changes) - known)
            raise TypeError(f"{cls.__name__} has no field {unknown!r}")
        new = new_object(cls)
        for set_slot, value in zip(setters, values_of(obj), strict=True):
            set_slot(new, value)
        for name, value in changes.items():
            setter_of[name](new, value)
        return new

    type.__setattr__(cls, "_wire_copier", copy)
    return copy


def _slot(cls: type, name: str) -> Any:
    """The member descriptor of slot ``name`` (a model's fields are slots, some
    inherited from its bases)."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    raise TypeError(f"{cls.__name__}.{name} is no slot")


def _values_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """All the named attributes of an object, as a tuple, in one call."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    return lambda obj: tuple(getattr(obj, name) for name in names)


# -- per-class codecs -------------------------------------------------------------
#
# Every stored write is encoded into the log, and every message with the objects it
# carries; a loop over the field table (an attribute fetch, a codec lookup and a
# call per field) was a third of a large swarm's run. Each class gets flat tables
# built once from that field table: the writer reads every field with one call and
# writes plain values as they are; the fast reader walks only the keys the JSON
# holds (most are left out) and starts from the shared zero values. The strict
# reading stays generic: it runs only on input the fast one stumbled on.

# how a field is written: a plain value or through its codec; always or omitempty
_PLAIN, _PLAIN_OMITTED, _CODED, _CODED_OMITTED = range(4)


def _generated_encoder(cls: type[WireModel]) -> Callable[[Any], dict[str, JSON]]:
    fields = cls._fields()
    values_of = _values_getter(tuple(field.name for field in fields))
    plan = []
    for field in fields:
        codec = field.codec
        if codec.scalar is not None:
            how = _PLAIN_OMITTED if field.omitempty else _PLAIN
            plan.append((field.key, how, codec.zero(), codec.encode))
        else:
            how = _CODED_OMITTED if field.omitempty else _CODED
            plan.append((field.key, how, codec.is_zero, codec.encode))
    steps = tuple(plan)

    def encode(obj: Any) -> dict[str, JSON]:
        out: dict[str, JSON] = {}
        for (key, how, zero, write), value in zip(steps, values_of(obj), strict=True):
            if how == _PLAIN:
                out[key] = value
            elif how == _PLAIN_OMITTED:
                if value != zero:
                    out[key] = value
            elif how == _CODED or not zero(value):
                out[key] = write(value)
        return out

    type.__setattr__(cls, "_wire_encoder", encode)
    return encode


def _generated_reader(cls: type[WireModel]) -> Callable[[Mapping[str, JSON]], Any]:
    """Reads well-formed JSON; raises (anything) where the strict reading would."""
    keys = cls._wire_keys()
    specs = {spec.name: spec for spec in dataclasses.fields(typing.cast(Any, cls))}
    missing: dict[str, Any] = {}  # what a key left out reads as
    required: set[str] = set()  # fields without a default: the key must be there
    readers: dict[str, tuple[str, type | None, Callable[[JSON], Any]]] = {}
    for field, (name, key, fast, use_default, zero) in zip(
        cls._fields(), cls._reading_plan(), strict=True
    ):
        readers[key] = (name, field.codec.scalar, fast)
        if not use_default:
            missing[name] = zero
            continue
        spec = specs[name]
        if spec.default_factory is not dataclasses.MISSING:
            missing[name] = spec.default_factory()  # frozen: shared, as a zero value is
        elif spec.default is not dataclasses.MISSING:
            missing[name] = spec.default
        else:
            required.add(name)
    needed = frozenset(required)

    def read(data: Mapping[str, JSON]) -> Any:
        if not keys.issuperset(data):
            raise _Slow
        values = dict(missing)
        for key, value in data.items():
            name, scalar, fast = readers[key]
            if scalar is None:
                values[name] = fast(value)
            elif type(value) is scalar:
                values[name] = value
            else:
                raise _Slow
        if needed and not needed.issubset(values):
            raise _Slow  # the strict reading says what is missing
        return cls(**values)

    type.__setattr__(cls, "_wire_reader", read)
    return read
