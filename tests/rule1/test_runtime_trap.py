"""The runtime layer of rule 1 refuses core callers and leaves every other caller alone."""

from __future__ import annotations

import copy
import copyreg
import datetime
import importlib
import importlib.util
import inspect
import os
import pickle
import random
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.rule1 import io_trap

PLANTED = Path(__file__).parent / "planted" / "core"

# (planted module, function, arguments, trapped name its call must report)
PLANTED_CALLS: list[tuple[str, str, tuple[Any, ...], str]] = [
    ("clock_import", "now", (), "time.monotonic"),
    ("clock_from_import", "now", (), "time.monotonic"),
    ("sleep", "pause", (0.0,), "time.sleep"),
    ("datetime_now", "stamp", (), "datetime.datetime.now"),
    ("datetime_now", "utc_stamp", (), "datetime.datetime.utcnow"),
    ("os_urandom", "token", (), "os.urandom"),
    ("random_global", "pick", ([1, 2, 3],), "random.choice"),
    ("random_from_import", "pick", ([1, 2, 3],), "random.choice"),
    ("random_alias", "roll", (), "random.randint"),
    ("socket_use", "open_socket", (), "socket.socket"),
    ("socket_use", "connect", (("127.0.0.1", 9),), "socket.create_connection"),
]

# Arguments for every global random function, to compare wrapper and original from a non-core
# caller; a Python version that adds one fails test_every_random_function_has_sample_arguments.
RANDOM_ARGUMENTS: dict[str, Callable[[], tuple[Any, ...]]] = {
    "betavariate": lambda: (2.0, 3.0),
    "binomialvariate": lambda: (5, 0.5),
    "choice": lambda: ([1, 2, 3],),
    "choices": lambda: ([1, 2, 3], [3, 2, 1]),
    "expovariate": lambda: (1.5,),
    "gammavariate": lambda: (2.0, 3.0),
    "gauss": lambda: (0.0, 1.0),
    "getrandbits": lambda: (64,),
    "getstate": lambda: (),
    "lognormvariate": lambda: (0.0, 1.0),
    "normalvariate": lambda: (0.0, 1.0),
    "paretovariate": lambda: (2.0,),
    "randbytes": lambda: (8,),
    "randint": lambda: (1, 6),
    "random": lambda: (),
    "randrange": lambda: (0, 100, 7),
    "sample": lambda: (list(range(10)), 3),
    "seed": lambda: (7,),
    "setstate": lambda: (random.Random(7).getstate(),),
    "shuffle": lambda: (list(range(10)),),
    "triangular": lambda: (0.0, 1.0, 0.3),
    "uniform": lambda: (0.0, 1.0),
    "vonmisesvariate": lambda: (0.0, 1.0),
    "weibullvariate": lambda: (1.0, 2.0),
}
RANDOM_NAMES = [name for name in io_trap.trapped_names() if name.startswith("random.")]


def load_planted(stem: str, module_name: str | None = None) -> ModuleType:
    """Execute a planted file as module ``core._planted_<stem>`` without registering it."""
    name = module_name or f"core._planted_{stem}"
    spec = importlib.util.spec_from_file_location(name, PLANTED / f"{stem}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert sys.modules.get(name) is not module
    return module


def resolve(dotted: str) -> Any:
    """The object a caller gets for ``dotted``, looked up now (so it sees the trap)."""
    first, *attributes = dotted.split(".")
    value: Any = importlib.import_module(first)
    for attribute in attributes:
        value = getattr(value, attribute)
    return value


def snapshot() -> dict[str, object]:
    """Raw values install() replaces, read without triggering descriptors."""
    values: dict[str, object] = {}
    for dotted in io_trap.trapped_names():
        owner_name, _, attribute = dotted.rpartition(".")
        values[dotted] = inspect.getattr_static(resolve(owner_name), attribute)
    real_datetime = type(datetime.datetime.min)
    values["datetime.datetime"] = datetime.datetime
    values["socket.socket.__init__"] = vars(socket.socket)["__init__"]
    values["copyreg"] = copyreg.dispatch_table.get(real_datetime)
    return values


def assert_same_objects(left: dict[str, object], right: dict[str, object]) -> None:
    changed = [name for name in left if left[name] is not right[name]]
    assert left.keys() == right.keys() and not changed, changed


@pytest.fixture
def pristine() -> Iterator[None]:
    """Start uninstalled; afterwards reinstate whatever the session had (conftest may install)."""
    previous = io_trap.installed_prefixes()
    io_trap.uninstall()
    try:
        yield
    finally:
        io_trap.uninstall()
        if previous:
            io_trap.install(previous)


@pytest.fixture
def trap(pristine: None) -> None:
    io_trap.install()


@pytest.fixture
def global_random_state() -> Iterator[None]:
    """Leave the global generator as found, whatever a test draws from it."""
    state = random.getstate()
    try:
        yield
    finally:
        random.setstate(state)


@pytest.mark.usefixtures("trap")
@pytest.mark.parametrize(("stem", "function", "arguments", "trapped"), PLANTED_CALLS)
def test_planted_call_from_core_raises(
    stem: str, function: str, arguments: tuple[Any, ...], trapped: str
) -> None:
    planted = load_planted(stem)
    expected = f"rule 1: {trapped} called from core module core._planted_{stem}"
    with pytest.raises(RuntimeError, match=f"^{re.escape(expected)}$"):
        getattr(planted, function)(*arguments)


@pytest.mark.usefixtures("trap")
@pytest.mark.parametrize("trapped", io_trap.trapped_names())
def test_every_trapped_function_refuses_a_core_caller(trapped: str) -> None:
    trampoline = load_planted("runtime_trampoline")
    with pytest.raises(
        RuntimeError, match=f"^{re.escape(f'rule 1: {trapped} called from core module ')}"
    ):
        trampoline.call(resolve(trapped))


@pytest.mark.usefixtures("trap")
def test_module_names_match_on_package_boundaries() -> None:
    looks_alike = load_planted("runtime_trampoline", "coreutils.trampoline")
    assert isinstance(looks_alike.call(time.monotonic), float)
    whole_package = load_planted("runtime_trampoline", "core")
    with pytest.raises(RuntimeError, match=r"from core module core$"):
        whole_package.call(time.monotonic)


@pytest.mark.usefixtures("trap", "global_random_state")
def test_non_core_callers_get_the_originals() -> None:
    time.sleep(0)
    assert time.monotonic() <= time.monotonic()
    assert type(datetime.datetime.now(datetime.UTC)) is type(datetime.datetime.min)
    assert len(os.urandom(4)) == 4
    with socket.socket() as sock:
        assert isinstance(sock, socket.socket)
    assert random.choice([5]) == 5


@pytest.mark.usefixtures("trap", "global_random_state")
@pytest.mark.parametrize("trapped", RANDOM_NAMES)
def test_random_function_matches_the_original_for_non_core_callers(trapped: str) -> None:
    wrapper = resolve(trapped)
    original = wrapper.__wrapped__
    arguments = RANDOM_ARGUMENTS[trapped.removeprefix("random.")]
    outcomes = []
    for function in (wrapper, original):
        random.seed(1234)
        given = arguments()
        outcomes.append((function(*given), given, random.random()))
    assert outcomes[0] == outcomes[1]


def test_every_random_function_has_sample_arguments() -> None:
    assert {name.removeprefix("random.") for name in RANDOM_NAMES} <= RANDOM_ARGUMENTS.keys()


@pytest.mark.usefixtures("pristine")
def test_datetime_facade_keeps_type_checks_and_pickles() -> None:
    real = datetime.datetime
    moment = real(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    pickled = pickle.dumps(moment)
    io_trap.install()
    assert datetime.datetime is not real
    assert type(datetime.datetime(2024, 1, 2)) is real
    assert isinstance(real.min, datetime.datetime)
    assert issubclass(real, datetime.datetime)
    assert repr(datetime.datetime) == repr(real)
    assert pickle.dumps(moment) == pickled
    assert pickle.loads(pickled) == moment
    assert copy.deepcopy(moment) == moment


@pytest.mark.usefixtures("pristine")
def test_uninstall_restores_every_original() -> None:
    before = snapshot()
    io_trap.install()
    installed = snapshot()
    replaced = {name for name in before if installed[name] is not before[name]}
    assert replaced == before.keys() - {"socket.socket"}  # the class stays; its __init__ changes
    io_trap.uninstall()
    assert_same_objects(snapshot(), before)
    assert not io_trap.is_installed()


@pytest.mark.usefixtures("pristine")
def test_install_is_idempotent() -> None:
    before = snapshot()
    io_trap.install()
    installed = snapshot()
    io_trap.install()
    assert_same_objects(snapshot(), installed)
    io_trap.uninstall()
    assert_same_objects(snapshot(), before)


@pytest.mark.usefixtures("pristine")
def test_trapped_restores_the_previous_state() -> None:
    with io_trap.trapped():
        assert io_trap.installed_prefixes() == ("core",)
    assert not io_trap.is_installed()
    io_trap.install(("core",))
    with io_trap.trapped(("core", "sim.kernel")):
        assert io_trap.installed_prefixes() == ("core", "sim.kernel")
    assert io_trap.installed_prefixes() == ("core",)


@pytest.mark.usefixtures("pristine")
def test_wrapper_captured_while_installed_is_inert_after_uninstall() -> None:
    io_trap.install()
    planted = load_planted("clock_from_import")
    io_trap.uninstall()
    assert isinstance(planted.now(), float)


@pytest.mark.usefixtures("pristine")
def test_from_import_before_install_escapes_so_install_first() -> None:
    planted = load_planted("clock_from_import")
    io_trap.install()
    assert isinstance(planted.now(), float)  # held the original: why conftest installs first


@pytest.mark.usefixtures("pristine")
def test_strict_install_refuses_once_core_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "core._already_here", ModuleType("core._already_here"))
    with pytest.raises(RuntimeError, match=r"installed too late: .*core\._already_here"):
        io_trap.install(strict=True)
    assert not io_trap.is_installed()


def test_planted_modules_never_reach_sys_modules() -> None:
    assert not [name for name in sys.modules if name.startswith("core._planted")]
