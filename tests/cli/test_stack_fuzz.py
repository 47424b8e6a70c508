"""Fuzzed compose files: random YAML, random values in the places a compose file
has them, and valid files with one value or key changed. ``stack deploy`` gives
commands or one refusal that names the problem (never another exception), and a
file it accepts deploys against a simulated swarm without an exception either."""

from __future__ import annotations

import random
import re
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.commands.flags import UsageError
from cli.commands.language import parse
from cli.commands.run import execute
from cli.compose import ComposeError
from cli.compose.convert import convert
from cli.compose.load import load
from core.manager.requests import ClientReply
from tests.cli.stack_support import DATA
from tests.cli.test_stack_commands import APP, FLASK, PETS, WHOAMI
from tests.cluster.support import swarm

NIGHTLY = settings.default.max_examples > 200
EXAMPLES = 2_000 if NIGHTLY else 150

VALID = [
    WHOAMI,
    PETS,
    FLASK,
    APP,
    (DATA / "voting-app-2020.yml").read_text(encoding="utf-8"),
    (DATA / "wordpress-mysql.yaml").read_text(encoding="utf-8"),
]
KEYS = st.sampled_from(
    [
        "version", "services", "networks", "volumes", "secrets", "configs", "image", "deploy",
        "replicas", "mode", "ports", "target", "published", "environment", "env_file", "labels",
        "command", "entrypoint", "healthcheck", "test", "interval", "restart_policy",
        "condition", "update_config", "placement", "constraints", "preferences", "spread",
        "resources", "limits", "cpus", "memory", "external", "name", "file", "driver", "ipam",
        "config", "subnet", "x-extra", "build", "mem_limit", "volumes_from", "extra_hosts",
        "dns", "ulimits", "nofile", "soft", "hard", "stop_grace_period", "init", "tmpfs",
        "source", "uid", "mode", "web", "db", "default", "aliases", "endpoint_mode",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "", "3", "3.8", "2", "81:8000", "8080:80/udp", "1-5:1-5", "x:y", "10s", "1h5m",
            "10y", "0.5", "50M", "nginx", "NGINX", "${X}", "${X:-1}", "${X?no}", "$$", "${",
            "a b 'c", "node.role == manager", "/data", "vol:/d:ro", "./x:/y", "on-failure",
            "global", "replicated-job", "dnsrr", "pw.txt", "0440", "rollback",
        ]
    ),
    st.text(max_size=12),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)
FILES = {"pw.txt": "s3cret", "site.conf": "x", "app.conf": "y"}


def read_file(path: str) -> str:
    if path in FILES:
        return FILES[path]
    raise FileNotFoundError(2, "No such file or directory", path)


def deploys_cleanly(text: str) -> None:
    """Read as ``stack deploy`` reads it: commands, or a refusal with a message."""
    files = {**FILES, "stack.yml": text}

    def reading(path: str) -> str:
        if path in files:
            return files[path]
        raise FileNotFoundError(2, "No such file or directory", path)

    try:
        commands = parse("stack deploy -c stack.yml app", random.Random(1), reading, {"X": "1"})
    except UsageError as error:
        assert error.message
        return
    world = swarm(9, managers=1, workers=1)  # a fresh swarm: no example leans on another

    def manager(method: str, params: dict[str, Any]) -> ClientReply:
        return world.call("manager-1", method, **params)

    for command in commands:  # a simulated manager answers, accepting or refusing
        outcome = execute(command, manager, "manager-1")
        assert outcome.ok or outcome.error
        assert not INTERNAL.search(outcome.error or ""), outcome.error


#: What only a bug prints: a Python exception's name or a traceback, or the
#: daemon's range refusal of an integer the docker CLI refuses at load (a file
#: half deployed: networks and secrets made, then the service refused).
INTERNAL = re.compile(r"Traceback|\b[A-Z][a-z]+(?:[A-Z][a-z]+)*Error\b|\(a Go u?int")


@settings(max_examples=EXAMPLES)
@given(top=st.dictionaries(KEYS, VALUES, max_size=6))
def test_random_compose_documents_deploy_or_are_refused(top: dict[str, Any]) -> None:
    deploys_cleanly(yaml.safe_dump(top, allow_unicode=True))


@settings(max_examples=EXAMPLES)
@given(text=st.text(max_size=200))
def test_random_text_deploys_or_is_refused(text: str) -> None:
    deploys_cleanly(text)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _set(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[head] = _set(document[head], rest, value)
    return copy


@settings(max_examples=EXAMPLES)
@given(
    base=st.sampled_from(VALID),
    data=st.data(),
    value=VALUES,
    key=KEYS,
    rename=st.booleans(),
)
def test_valid_files_with_one_change_deploy_or_are_refused(
    base: str, data: st.DataObject, value: Any, key: str, rename: bool
) -> None:
    document = yaml.safe_load(base)
    path = data.draw(st.sampled_from(_paths(document)))
    target = document
    for step in path[:-1]:
        target = target[step]
    if rename and path and isinstance(target, dict):  # a key renamed, its value kept
        changed = _set(
            document,
            path[:-1],
            {**{k: v for k, v in target.items() if k != path[-1]}, key: target[path[-1]]},
        )
    else:
        changed = _set(document, path, value)
    deploys_cleanly(yaml.safe_dump(changed, allow_unicode=True))


@settings(max_examples=EXAMPLES)
@given(base=st.sampled_from(VALID), cut=st.integers(0, 5_000), junk=st.text(max_size=8))
def test_cut_and_spliced_files_load_or_are_refused(base: str, cut: int, junk: str) -> None:
    text = base[: cut % (len(base) + 1)] + junk + base[cut % (len(base) + 1) :]
    try:
        convert(
            "app",
            load(["stack.yml"], lambda p: text if p == "stack.yml" else read_file(p), {}),
            read_file,
        )
    except ComposeError as error:
        assert error.message


#: Number-typed places of a service (a path under ``services.web``), each given a
#: number drawn from far past any Go field's range, either sign.
NUMBER_PLACES = [
    ("deploy", "replicas"), ("deploy", "update_config", "parallelism"),
    ("deploy", "rollback_config", "parallelism"), ("deploy", "restart_policy", "max_attempts"),
    ("deploy", "placement", "max_replicas_per_node"), ("healthcheck", "retries"),
    ("deploy", "resources", "limits", "memory"), ("deploy", "resources", "limits", "cpus"),
    ("deploy", "resources", "reservations", "memory"), ("ulimits", "nofile"),
    ("ulimits", "nproc", "soft"), ("ulimits", "nproc", "hard"), ("oom_score_adj",),
    ("secrets", 0, "mode"), ("ports", 0, "target"), ("ports", 0, "published"),
    ("deploy", "resources", "limits", "pids"),
]  # fmt: skip
WIDE = st.one_of(
    st.integers(-(2**80), 2**80),
    st.sampled_from([-1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**20, 10**23]),
)


def _placed(document: dict[str, Any], path: tuple[Any, ...], number: int | str) -> None:
    node: Any = document["services"]["web"]
    for step, following in zip(path, (*path[1:], None), strict=True):
        if following is None:
            node[step] = number
        elif isinstance(step, int):
            node = node[step]
        else:
            node = node.setdefault(step, [{"source": "pw", "target": 80}] if following == 0 else {})


@settings(max_examples=EXAMPLES)
@given(place=st.sampled_from(NUMBER_PLACES), number=WIDE, quoted=st.booleans())
def test_wide_integers_in_number_places_deploy_or_are_refused(
    place: tuple[Any, ...], number: int, quoted: bool
) -> None:
    document = yaml.safe_load(APP)
    document["secrets"] = {"pw": {"file": "pw.txt"}}
    document["services"]["web"]["secrets"] = [{"source": "pw"}]
    document["services"]["web"]["ports"] = [{"target": 80}]
    _placed(document, place, str(number) if quoted else number)
    deploys_cleanly(yaml.safe_dump(document))
