"""A service's secret and config references, checked as SwarmKit's control API
checks them (``validateSecretRefsSpec``, ``validateConfigRefsSpec``, then
``checkSecretExistence`` and ``checkConfigExistence`` in the write), in its words.

A reference names its object twice, by ID and by name (the CLI looks the name up);
both must match an object in the store. Each must have a file target, and no two
references of a kind may share one.
"""

from __future__ import annotations

from core.manager.requests import ApiError
from core.model.secret import Config, Secret
from core.model.service import ConfigReference, SecretReference, ServiceSpec
from core.store import WriteTx


def _named(ref: SecretReference | ConfigReference) -> tuple[str, str]:
    if isinstance(ref, SecretReference):
        return ref.secret_id, ref.secret_name
    return ref.config_id, ref.config_name


def check_references(spec: ServiceSpec) -> None:
    """The references are well formed (no store needed)."""
    container = spec.task_template.container_spec
    if container is None:
        return
    kinds: tuple[tuple[str, tuple[SecretReference | ConfigReference, ...]], ...] = (
        ("secret", container.secrets),
        ("config", container.configs),
    )
    for kind, refs in kinds:
        targets: dict[str, str] = {}  # file name -> the first reference's name
        for ref in refs:
            object_id, name = _named(ref)
            if not object_id or not name:
                raise ApiError("InvalidArgument", f"malformed {kind} reference")
            if isinstance(ref, ConfigReference) and ref.runtime is not None and ref.file is None:
                continue  # a credential spec's config: no file
            if ref.file is None:
                raise ApiError("InvalidArgument", f"malformed {kind} reference, no target provided")
            if not ref.file.name:
                raise ApiError(
                    "InvalidArgument",
                    f"malformed file {kind} reference, invalid target file name provided",
                )
            if ref.file.name in targets:
                raise ApiError(
                    "InvalidArgument",
                    f"{kind} references '{targets[ref.file.name]}' and '{name}' have a "
                    f"conflicting target: '{ref.file.name}'",
                )
            targets[ref.file.name] = name


def check_existence(tx: WriteTx, spec: ServiceSpec) -> None:
    """Every reference names an object that exists, by its ID and its name."""
    container = spec.task_template.container_spec
    if container is None:
        return
    kinds: tuple[tuple[str, str, tuple[SecretReference | ConfigReference, ...]], ...] = (
        ("secret", "secrets", container.secrets),
        ("config", "configs", container.configs),
    )
    for kind, table, refs in kinds:
        missing = []
        for ref in refs:
            object_id, name = _named(ref)
            found = tx.get(table, object_id)
            if not isinstance(found, (Secret, Config)) or found.spec.name != name:
                missing.append(name)
        if missing:
            plural = kind if len(missing) == 1 else f"{kind}s"
            raise ApiError("InvalidArgument", f"{plural} not found: {', '.join(missing)}")
