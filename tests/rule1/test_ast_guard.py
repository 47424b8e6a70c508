"""The static layer of rule 1 catches every planted violation and passes clean code."""

from __future__ import annotations

import keyword
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.rule1.ast_guard import (
    DATETIME_CLOCK_READS,
    FORBIDDEN_CALLS,
    FORBIDDEN_MODULES,
    RANDOM_METHODS,
    Violation,
    check_source,
    check_tree,
    main,
)

PLANTED = Path(__file__).parent / "planted" / "core"
REPO_CORE = Path(__file__).parents[2] / "core"
SOMEWHERE = Path("core/x.py")

# (planted file, fragment its report must contain); a file may appear once per violation kind.
PLANTED_VIOLATIONS: list[tuple[str, str]] = [
    ("clock_import.py", "imports 'time'"),
    ("clock_from_import.py", "imports 'time.monotonic'"),
    ("sleep.py", "imports 'time'"),
    ("thread.py", "imports 'threading'"),
    ("asyncio_loop.py", "imports 'asyncio'"),
    ("socket_use.py", "imports 'socket'"),
    ("subprocess_run.py", "imports 'subprocess'"),
    ("secrets_token.py", "imports 'secrets'"),
    ("uuid_ids.py", "imports 'uuid'"),
    ("simpy_env.py", "imports 'simpy'"),
    ("docker_client.py", "imports 'docker'"),
    ("pyroute2_links.py", "imports 'pyroute2.IPRoute'"),
    ("datetime_now.py", "calls 'datetime.datetime.now'"),
    ("datetime_now.py", "calls 'datetime.datetime.utcnow'"),
    ("datetime_now.py", "calls 'datetime.date.today'"),
    ("os_urandom.py", "calls 'os.urandom'"),
    ("random_global.py", "calls 'random.choice'"),
    ("random_from_import.py", "imports 'random.choice'"),
    ("random_alias.py", "calls 'random.randint'"),
    ("random_construct.py", "calls 'random.Random'"),
    ("importlib_time.py", "imports 'importlib'"),
    ("dunder_import.py", "calls '__import__'"),
    ("open_file.py", "calls 'open'"),
    ("builtin_alias.py", "uses '__import__'"),
    ("builtin_alias.py", "uses 'exec'"),
    ("builtin_alias.py", "uses 'open'"),
    ("datetime_alias.py", "calls 'datetime.datetime.now'"),
    ("datetime_alias.py", "calls 'datetime.date.today'"),
    ("datetime_alias.py", "calls 'datetime.datetime.utcnow'"),
]
CLEAN_FILES = frozenset({"clean.py", "runtime_trampoline.py"})


def _messages_by_file() -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for violation in check_tree(PLANTED):
        grouped[violation.path.name].append(violation.message)
    return grouped


def _messages(source: str) -> list[str]:
    return [violation.message for violation in check_source(source, SOMEWHERE)]


@pytest.mark.parametrize(("file_name", "fragment"), PLANTED_VIOLATIONS)
def test_planted_violation_is_reported(file_name: str, fragment: str) -> None:
    messages = _messages_by_file()[file_name]
    assert any(fragment in message for message in messages), messages
    assert all("(rule 1: " in message for message in messages)


def test_exactly_the_planted_violations_are_reported() -> None:
    planted_files = {path.name for path in PLANTED.glob("*.py")}
    violating_files = {name for name, _ in PLANTED_VIOLATIONS}
    assert planted_files == violating_files | CLEAN_FILES, "register new planted files above"
    assert set(_messages_by_file()) == violating_files


@pytest.mark.parametrize("file_name", sorted(CLEAN_FILES))
def test_clean_planted_file_passes(file_name: str) -> None:
    assert check_tree(PLANTED / file_name) == []


def test_real_core_tree_passes() -> None:
    violations = check_tree(REPO_CORE)
    assert violations == [], "\n".join(map(str, violations))


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("import os.path\nos.path.join('a', 'b')\n", None),
        ("from . import time\nfrom .clock import now\n", None),
        ("import datetime\nx = datetime.datetime(2024, 1, 1).isoformat()\n", None),
        ("from random import Random\ndef f(rng: Random) -> None: ...\n", None),
        ("def f(rng: 'random.Random') -> None: ...\n", None),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from random import Random\n",
            None,
        ),
        ("import random\nok = isinstance(object(), random.Random)\n", None),
        ("import random\nrandom = 3\n", None),
        ("from os import urandom\n", "imports 'os.urandom'"),
        ("import concurrent.futures\n", "imports 'concurrent.futures'"),
        ("import time as t\n", "imports 'time'"),
        ("import queue\n", "imports 'queue'"),
        ("import pathlib\n", "imports 'pathlib'"),
        ("import io\n", "imports 'io'"),
        ("import builtins\n", "imports 'builtins'"),
        ("import logging\n", "imports 'logging'"),
        ("import random\nrandom.seed(1)\n", "calls 'random.seed'"),
        ("import random\nrandom.SystemRandom()\n", "calls 'random.SystemRandom'"),
        ("from random import Random\nRandom()\n", "calls 'random.Random'"),
        ("import random\nclass R(random.Random): ...\n", "subclasses 'random.Random'"),
        ("import random\nx = getattr(random, 'choice')\n", "calls 'getattr' on 'random'"),
        ("import random as r\nf = r\n", "uses module 'random' as a value"),
        ("from random import *\n", "star-imports 'random'"),
        ("import datetime as d\nd.datetime.now()\n", "calls 'datetime.datetime.now'"),
        ("from datetime import date\ndate.today()\n", "calls 'datetime.date.today'"),
        ("from datetime import datetime\nclock = datetime.now\n", "uses 'datetime.datetime.now'"),
        ("import os\nos.system('ls')\n", "calls 'os.system'"),
        ("import os\nos.environ.get('HOME')\n", "calls 'os.environ.get'"),
        ("import posixpath\nposixpath.exists('x')\n", "calls 'os.path.exists'"),
        ("import sys\nsys.stdout.write('x')\n", "calls 'sys.stdout.write'"),
        ("import sys\nsys.modules['time']\n", "uses 'sys.modules'"),
        ("g = globals()['__builtins__']\n", "uses '__builtins__'"),
        ("exec('1')\n", "calls 'exec'"),
        ("eval('1')\n", "calls 'eval'"),
        ("compile('1', 'x', 'eval')\n", "calls 'compile'"),
        ("print('hi')\n", "calls 'print'"),
        # Forbidden builtins are caught wherever they are named, not only where called.
        ("f = __import__\nf('time')\n", "uses '__import__'"),
        ("e = exec\n", "uses 'exec'"),
        ("o = open\n", "uses 'open'"),
        ("handlers = {'read': open}\n", "uses 'open'"),
        ("def f(reader=open): ...\n", "uses 'open'"),
        ("run = [eval][0]\n", "uses 'eval'"),
        ("compile.__call__('1', 'x', 'eval')\n", "uses 'compile'"),
        ("def f(output: str) -> str:\n    return output\n", None),
        ("class Door:\n    def open(self) -> None: ...\nDoor().open()\n", None),
        # Aliases of datetime's classes are followed to their clock reads.
        (
            "import datetime\nD = datetime.datetime\nD.now()\n",
            "calls 'datetime.datetime.now'",
        ),
        ("import datetime\nD = datetime.datetime\nD(2024, 1, 1)\n", None),
        ("import datetime\nD = datetime.datetime\nx: D | None = None\n", None),
        (
            "from datetime import datetime as dt\nD = dt\nE = D\nE.utcnow()\n",
            "calls 'datetime.datetime.utcnow'",
        ),
        (
            "import datetime\nE = D\nD = datetime.date\nE.today()\n",
            "calls 'datetime.date.today'",
        ),
        ("import datetime\nD: type = datetime.date\nD.today()\n", "calls 'datetime.date.today'"),
        (
            "import datetime\nif (D := datetime.datetime):\n    D.now()\n",
            "calls 'datetime.datetime.now'",
        ),
        (
            "import datetime\nD, n = datetime.datetime, 1\nD.now()\n",
            "calls 'datetime.datetime.now'",
        ),
        (
            "import datetime\ndef f(*, c=datetime.date):\n    return c.today()\n",
            "calls 'datetime.date.today'",
        ),
        (
            "import datetime\nf = lambda c=datetime.datetime: c.now()\n",
            "calls 'datetime.datetime.now'",
        ),
        (
            "import datetime\nD = datetime.datetime\nclass Mine(D): ...\n",
            "subclasses 'datetime.datetime'",
        ),
        ("import random\nR = random.Random\nR(4)\n", "calls 'random.Random'"),
        # One name, several meanings: each use is judged as every one of them.
        (
            "import datetime\ndatetime = datetime.datetime\ndatetime.now()\n",
            "calls 'datetime.datetime.now'",
        ),
        ("import os.path as p\nimport random as p\np.choice([1])\n", "calls 'random.choice'"),
        ("import datetime\nD = datetime.datetime\nD = D.min\nD = D.max\n", None),
        (
            "import datetime\ng = getattr\ng(datetime.datetime, 'now')\n",
            "calls 'getattr' on 'datetime.datetime'",
        ),
    ],
)
def test_source_snippets(source: str, fragment: str | None) -> None:
    messages = _messages(source)
    if fragment is None:
        assert messages == []
    else:
        assert any(fragment in message for message in messages), messages


def test_unparsable_file_is_a_violation(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def f(:\n")
    [violation] = check_tree(tmp_path)
    assert violation.path == tmp_path / "broken.py"
    assert "cannot be parsed" in violation.message


def test_violation_reads_as_path_line_message() -> None:
    violation = Violation(Path("core/x.py"), 3, 1, "imports 'time' (rule 1: ...)")
    assert str(violation) == "core/x.py:3: imports 'time' (rule 1: ...)"


def test_main_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(PLANTED / "clean.py")]) == 0
    assert "OK" in capsys.readouterr().out
    assert main([str(PLANTED)]) == 1
    assert "clock_import.py:3: imports 'time'" in capsys.readouterr().out
    assert main([str(PLANTED / "missing")]) == 2


_ALIASES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda name: not keyword.iskeyword(name)
)
_FAST = settings(max_examples=60, derandomize=True, database=None, deadline=None)


@_FAST
@given(module=st.sampled_from(sorted(FORBIDDEN_MODULES)), alias=_ALIASES)
def test_forbidden_module_is_caught_under_any_alias(module: str, alias: str) -> None:
    assert any(f"imports '{module}'" in m for m in _messages(f"import {module} as {alias}\n"))


@_FAST
@given(function=st.sampled_from(sorted(RANDOM_METHODS)), alias=_ALIASES)
def test_global_random_function_is_caught_under_any_alias(function: str, alias: str) -> None:
    source = f"import random as {alias}\n{alias}.{function}()\n"
    assert any(f"'random.{function}'" in m for m in _messages(source))


@_FAST
@given(builtin=st.sampled_from(sorted(FORBIDDEN_CALLS)), alias=_ALIASES)
def test_forbidden_builtin_is_caught_when_aliased_first(builtin: str, alias: str) -> None:
    source = f"{alias} = {builtin}\n{alias}('x')\n"
    assert any(f"uses '{builtin}'" in m for m in _messages(source))


@_FAST
@given(read=st.sampled_from(sorted(DATETIME_CLOCK_READS)), alias=_ALIASES)
def test_datetime_clock_read_is_caught_through_a_class_alias(read: str, alias: str) -> None:
    klass, _, method = read.rpartition(".")
    source = f"import datetime\n{alias} = {klass}\n{alias}.{method}()\n"
    assert any(f"calls '{read}'" in m for m in _messages(source))
