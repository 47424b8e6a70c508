"""Reading the compose files of one ``stack deploy``, as the docker CLI loads
them: each file parsed (its top level must be a mapping), all of one version,
forbidden keys refused, variables substituted from the environment, the result
checked against the 3.x schema, later files merged over earlier ones; then the
warnings Docker prints (keys Swarm ignores, deprecated keys) and every service
checked for an image.

The environment is the caller's (``os.environ`` for the CLI, none for a
scenario), under which shoal also reads a ``.env`` file beside the first
compose file: the process's own variables win over the file's."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cli.compose import ComposeError, ranges, schema, yaml12
from cli.compose.interpolate import interpolate

ReadFile = Callable[[str], str]

#: Keys Swarm ignores (``Ignoring unsupported options: build``), as docker/cli lists them.
UNSUPPORTED = (
    "build", "cgroupns_mode", "cgroup_parent", "devices", "domainname", "external_links",
    "ipc", "links", "mac_address", "network_mode", "pid", "privileged", "restart",
    "security_opt", "shm_size", "userns_mode",
)  # fmt: skip
DEPRECATED = {
    "container_name": "Setting the container name is not supported.",
    "expose": "Exposing ports is unnecessary - services on the same network can access "
    "each other's containers on any port.",
}
FORBIDDEN = {
    "extends": "Support for `extends` is not implemented yet.",
    "volume_driver": "Instead of setting the volume driver on the service, define a volume "
    "using the top-level `volumes` option and specify the driver there.",
    "volumes_from": "To share a volume between services, define it using the top-level "
    "`volumes` option and reference it from each service that shares it using the "
    "service-level `volumes` option.",
    "cpu_quota": "Set resource limits using deploy.resources",
    "cpu_shares": "Set resource limits using deploy.resources",
    "cpuset": "Set resource limits using deploy.resources",
    "mem_limit": "Set resource limits using deploy.resources",
    "memswap_limit": "Set resource limits using deploy.resources",
}
_REFERENCE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,})?$"
)


@dataclass(frozen=True)
class Loaded:
    """The merged, checked file; where relative paths start; what to warn of."""

    config: dict[str, Any]
    working_dir: str
    env: Mapping[str, str]
    warnings: tuple[str, ...] = field(default=())
    #: The working directory made absolute (docker/cli's ``filepath.Abs``), where a
    #: bind mount's relative source starts: the daemon has no directory to start from.
    absolute_dir: str = "/"

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return {n: s or {} for n, s in (self.config.get("services") or {}).items()}

    def section(self, name: str) -> dict[str, dict[str, Any]]:
        return {k: v or {} for k, v in (self.config.get(name) or {}).items()}

    def path(self, name: str) -> str:
        """A path in the file, relative to the first file's directory."""
        return (
            name
            if posixpath.isabs(name)
            else posixpath.normpath(
                posixpath.join(self.working_dir, name) if self.working_dir else name
            )
        )

    def bind_source(self, source: str) -> str:
        """A bind mount's source as docker/cli's ``resolveVolumePaths`` makes it: a
        leading ``~`` replaced by HOME (when the environment has it), then made
        absolute from the working directory."""
        if source.startswith("~") and "HOME" in self.env:
            source = source.replace("~", self.env["HOME"], 1)
        return self.absolute(source)

    def absolute(self, name: str) -> str:
        """A path in the file as Docker names it: from the absolute working dir."""
        if posixpath.isabs(name):
            return name
        return posixpath.normpath(posixpath.join(self.absolute_dir, name))


def load(
    files: Sequence[str], read_file: ReadFile, environ: Mapping[str, str], cwd: str = "/"
) -> Loaded:
    """The files merged and checked; ``cwd`` (absolute) is the directory the caller
    runs in, which relative file names start from."""
    if not files:
        raise ComposeError("Specify a Compose file (with --compose-file)")
    working_dir = posixpath.dirname(files[0]) if files[0] != "-" else ""
    env = {**_dotenv(working_dir, read_file), **environ}
    parsed = [_parse(name, read_file) for name in files]
    version = schema.version_of(parsed[0])
    merged: dict[str, Any] = {}
    for config in parsed:
        other = schema.version_of(config)
        if other != version:
            raise ComposeError(
                f"version mismatched between two composefiles : {version} and {other}"
            )
        _forbidden(config)
        config = interpolate(config, env)
        schema.validate(config, version)
        ranges.check(config)
        merged = _merge(merged, config)
    absolute = posixpath.normpath(posixpath.join(cwd, working_dir))
    loaded = Loaded(merged, working_dir, env, _warnings(parsed), absolute)
    for name, service in sorted(loaded.services.items()):
        image = service.get("image")
        if not image:
            raise ComposeError(f"invalid image reference for service {name}: no image specified")
        if not _REFERENCE.match(image):
            raise ComposeError(
                f"invalid image reference for service {name}: invalid reference format"
            )
    return loaded


def read_text(read_file: ReadFile, path: str, shown: str | None = None) -> str:
    """A file the compose file names (or the compose file itself), refused as Go's
    ``os.ReadFile`` words it (naming it ``shown``: Docker's absolute path)."""
    try:
        return read_file(path)
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise ComposeError(f"open {shown or path}: {reason}") from None
    except UnicodeDecodeError:
        raise ComposeError(f"{path}: shoal reads text files only") from None


def _parse(name: str, read_file: ReadFile) -> dict[str, Any]:
    value = yaml12.parse(read_text(read_file, name))
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ComposeError("top-level object must be a mapping")
    converted: dict[str, Any] = _string_keys(value)
    return converted


def _string_keys(value: Any) -> Any:
    """Keys as JSON has them (YAML may key by numbers or booleans)."""
    if isinstance(value, dict):
        return {_key(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return key if isinstance(key, str) else str(key)


def _dotenv(working_dir: str, read_file: ReadFile) -> dict[str, str]:
    try:
        text = read_file(posixpath.join(working_dir, ".env") if working_dir else ".env")
    except (OSError, UnicodeDecodeError):
        return {}
    return dict(env_lines(text, ".env", {}))


def env_lines(text: str, name: str, env: Mapping[str, str]) -> list[tuple[str, str]]:
    """An env file's variables as docker/cli's ``kvfile`` reads them: a UTF-8 BOM
    dropped, blank and ``#`` lines skipped, ``KEY=value`` as it is, a bare ``KEY``
    the environment's value or, when the environment lacks it, nothing at all."""
    result: list[tuple[str, str]] = []
    for raw in text.removeprefix("\ufeff").split("\n"):
        line = raw.removesuffix("\r").lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key:
            raise ComposeError(f"invalid env file ({name}): no variable name on line '{line}'")
        if " " in key or "\t" in key:
            raise ComposeError(f"invalid env file ({name}): variable '{key}' contains whitespaces")
        if sep:
            result.append((key, value))
        elif line in env:
            result.append((key, env[line]))
    return result


def _forbidden(config: Mapping[str, Any]) -> None:
    services = config.get("services")
    if not isinstance(services, dict):
        return
    found = {
        key: FORBIDDEN[key]
        for service in services.values()
        if isinstance(service, dict)
        for key in service
        if key in FORBIDDEN
    }
    if found:
        listed = "\n\n".join(sorted(f"{k}: {v}" for k, v in found.items()))
        raise ComposeError(f"compose file contains unsupported options:\n\n{listed}\n")


def _warnings(configs: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    keys: set[str] = set()
    for config in configs:
        services = config.get("services")
        if isinstance(services, dict):
            keys |= {k for s in services.values() if isinstance(s, dict) for k in s}
    said = []
    unsupported = sorted(keys & set(UNSUPPORTED))
    if unsupported:
        said.append(f"Ignoring unsupported options: {', '.join(unsupported)}\n")
    deprecated = sorted(f"{k}: {DEPRECATED[k]}" for k in keys & set(DEPRECATED))
    if deprecated:
        said.append("Ignoring deprecated options:\n\n" + "\n\n".join(deprecated) + "\n")
    return tuple(said)


# -- several files ------------------------------------------------------------------------

#: Lists merged entry by entry (by the key that names an entry); other lists are replaced.
_KEYED = {"ports", "secrets", "configs", "volumes"}


def _merge(base: dict[str, Any], over: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
    """``over`` merged into ``base``: mappings key by key, a service's ports,
    volumes, secrets and configs entry by entry, anything else replaced."""
    result = dict(base)
    for key, value in over.items():
        old = result.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            result[key] = _merge(old, value, depth + 1)
        elif depth == 2 and key in _KEYED and isinstance(old, list) and isinstance(value, list):
            entries = {_entry_key(key, e): e for e in old}
            entries.update({_entry_key(key, e): e for e in value})
            result[key] = list(entries.values())
        elif depth == 2 and key in ("environment", "labels") and old is not None:
            result[key] = {**_as_mapping(old), **_as_mapping(value)}
        else:
            result[key] = value
    return result


def _entry_key(kind: str, entry: Any) -> str:
    if not isinstance(entry, dict):
        text = str(entry)
        return text.split(":")[-1] if kind == "volumes" else text
    name = {"volumes": "target", "ports": "target"}.get(kind, "source")
    return (
        f"{entry.get(name)}/{entry.get('published', '')}"
        if kind == "ports"
        else str(entry.get(name))
    )


def _as_mapping(value: Any) -> dict[str, Any]:
    """A list-or-dict value (``environment``, ``labels``) as a mapping."""
    if isinstance(value, dict):
        return dict(value)
    result: dict[str, Any] = {}
    for item in value or ():
        key, sep, text = str(item).partition("=")
        result[key] = text if sep else None
    return result
