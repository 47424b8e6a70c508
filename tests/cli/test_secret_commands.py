"""``docker secret|config create|ls|inspect|rm`` and the services' ``--secret`` and
``--config`` flags: Docker's command lines into requests, the docker CLI's own
errors, Docker's output, and what they do to a simulated swarm."""

from __future__ import annotations

import base64
import random
import shlex

import pytest

from cli.commands.common import Call, Found
from cli.commands.flags import UsageError
from cli.commands.language import parse
from cli.commands.run import Outcome, failure
from core.model.secret import ConfigSpec, SecretSpec
from core.model.service import Service
from sim.cluster import ClusterWorld
from tests.cli import swarm_lines
from tests.cluster.support import running, swarm

FILES = {"pw.txt": "s3cret", "app.conf": "x=1\n", "empty": ""}


def read_file(path: str) -> str:
    if path not in FILES:
        raise FileNotFoundError(2, "No such file or directory", path)
    return FILES[path]


def refused(line: str) -> str:
    with pytest.raises(UsageError) as caught:
        parse(line, random.Random(1), read_file)
    return caught.value.message


def run(world: ClusterWorld, line: str) -> list[Outcome]:
    return swarm_lines.run(world, line, read_file)


def printed(world: ClusterWorld, line: str) -> str:
    return swarm_lines.printed(world, line, read_file)


def test_create_reads_the_file_and_refuses_what_the_cli_refuses() -> None:
    (made,) = parse("docker secret create -l env=dev db_pw pw.txt", random.Random(1), read_file)
    assert isinstance(made, Call) and made.method == "SecretCreate"
    spec = made.params["spec"]
    assert isinstance(spec, SecretSpec)
    assert (spec.name, dict(spec.labels), base64.b64decode(spec.data)) == (
        "db_pw",
        {"env": "dev"},
        b"s3cret",
    )
    assert refused("secret create db_pw empty") == "error reading from empty: data is empty"
    assert refused("secret create db_pw") == "secret file is required"
    assert refused("secret create db_pw missing.txt") == (
        "error reading from missing.txt: open missing.txt: no such file or directory"
    )
    assert refused("config create app empty") == (
        'error reading content from "empty": error reading from empty: data is empty'
    )
    (config,) = parse("config create app app.conf", random.Random(1), read_file)
    assert isinstance(config, Call) and isinstance(config.params["spec"], ConfigSpec)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a,b", "invalid field 'a' must be a key=value pair"),
        ("source=a,colour=red", "invalid field in secret request: colour"),
        ("target=x", "source is required"),
        (
            "source=a,mode=rw",
            'invalid mode specified: strconv.ParseUint: parsing "rw": invalid syntax',
        ),
        ("'a\"b'", 'parse error on line 1, column 2: bare " in non-quoted-field'),
        (
            "'\"a\"b'",
            'parse error on line 1, column 3: extraneous or missing " in quoted-field',
        ),
        (
            "source=a,mode=1__0",
            'invalid mode specified: strconv.ParseUint: parsing "1__0": invalid syntax',
        ),
        (
            "source=a,mode=0o0o7",
            'invalid mode specified: strconv.ParseUint: parsing "0o0o7": invalid syntax',
        ),
    ],
)
def test_a_bad_secret_value_is_refused_in_the_clis_words(value: str, reason: str) -> None:
    message = refused(f"service create --secret {value} nginx")
    (given,) = shlex.split(value)  # as the shell hands it to the CLI
    assert f'invalid argument "{given}" for "--secret" flag: {reason}' in message


@pytest.mark.parametrize(
    ("mode", "bits"), [("0400", 0o400), ("400", 400), ("0o440", 0o440), ("0x1_ff", 0o777)]
)
def test_a_mode_is_read_as_go_reads_it_base_0(mode: str, bits: int) -> None:
    (made,) = parse(f"service create --secret source=a,mode={mode} nginx", random.Random(1))
    assert isinstance(made, Call) and made.resolved is not None
    spec = made.resolved(Found(secrets={"a": "id-a"}))["spec"]
    (ref,) = spec.task_template.container_spec.secrets
    assert ref.file.mode == bits


def test_two_references_with_one_target_are_refused_before_anything_is_sent() -> None:
    assert refused(
        "service create --secret source=a,target=t --secret source=b,target=t nginx"
    ) == ("duplicate secret target for b not allowed")


def test_secrets_and_configs_through_their_life_in_a_swarm() -> None:
    world = swarm(13, managers=1, workers=2)
    secret_id = printed(world, "secret create db_pw pw.txt")
    printed(world, "config create app.conf app.conf")
    created = printed(
        world,
        "service create --name web --detach --secret db_pw "
        "--config source=app.conf,target=/etc/app.conf,mode=0440 nginx",
    )
    store = world.leader_store()
    assert store is not None
    web = store.tables["services"][created]
    assert isinstance(web, Service)
    container = web.spec.task_template.container_spec
    assert container is not None
    ((secret,), (config,)) = container.secrets, container.configs
    assert (secret.secret_id, secret.secret_name, secret.file.name) == (  # type: ignore[union-attr]
        secret_id,
        "db_pw",
        "db_pw",
    )
    assert (config.file.name, config.file.mode) == ("/etc/app.conf", 0o440)  # type: ignore[union-attr]
    assert world.run_until(lambda: len(running(world, created)) == 1, 60)

    listed = printed(world, "secret ls").splitlines()
    assert listed[0].split() == ["ID", "NAME", "DRIVER", "CREATED", "UPDATED"]
    assert listed[1].split()[:2] == [secret_id, "db_pw"]
    assert printed(world, "config ls --format {{.Name}}") == "app.conf"
    pretty = printed(world, "config inspect --pretty app.conf")
    assert pretty.splitlines()[-2:] == ["Data:", "x=1"]
    assert "s3cret" not in printed(world, "secret inspect db_pw")

    (busy,) = run(world, "secret rm db_pw")
    assert failure(busy) == (
        "",
        "Error response from daemon: rpc error: code = InvalidArgument desc = "
        "secret 'db_pw' is in use by the following service: web",
    )
    (missing,) = run(world, "service update --secret-add nope web")
    assert failure(missing) == ("", "secret not found: nope")
    (removed,) = run(world, "service update --secret-rm db_pw --config-rm app.conf web")
    assert removed.ok, removed.error
    web = store.tables["services"][created]
    assert isinstance(web, Service) and web.spec.task_template.container_spec is not None
    assert web.spec.task_template.container_spec.secrets == ()
    assert printed(world, "secret rm db_pw") == "db_pw"
    (gone,) = run(world, "secret inspect db_pw")
    assert failure(gone) == ("[]", "Error response from daemon: secret db_pw not found")
