"""Pieces shared by several objects: object metadata, drivers, platforms, resources."""

from __future__ import annotations

from core.model.timestamp import GO_ZERO_TIME, Timestamp
from core.model.wire import Labels, WireModel, model, wire


@model
class Version(WireModel):
    """The store's version of an object: its Raft index at the last write."""

    index: int = wire("Index", default=0)


@model
class StoredObject(WireModel):
    """Base of stored objects: the ID and Go's embedded ``Meta`` (version, times).

    Go embeds these fields, so they sit at the top level of the object's JSON; shoal
    gets the same shape by inheritance.
    """

    id: str = wire("ID", omitempty=False, default="")
    version: Version = wire("Version", default_factory=Version)
    created_at: Timestamp = wire("CreatedAt", default=GO_ZERO_TIME)
    updated_at: Timestamp = wire("UpdatedAt", default=GO_ZERO_TIME)


@model
class Annotated(WireModel):
    """Base of specs: Go's embedded ``Annotations`` (a name and labels)."""

    name: str = wire("Name", default="")
    labels: Labels = wire("Labels", omitempty=False, default_factory=Labels)


@model
class Driver(WireModel):
    """A named driver with options (log driver, network driver, IPAM, secrets)."""

    name: str = wire("Name", default="")
    options: Labels = wire("Options", default_factory=Labels)


@model
class Platform(WireModel):
    architecture: str = wire("Architecture", default="")
    os: str = wire("OS", default="")


@model
class DiscreteGenericResource(WireModel):
    kind: str = wire("Kind", default="")
    value: int = wire("Value", default=0)


@model
class NamedGenericResource(WireModel):
    kind: str = wire("Kind", default="")
    value: str = wire("Value", default="")


@model
class GenericResource(WireModel):
    """A user-defined resource (GPUs, say): a count or a named instance."""

    named_resource_spec: NamedGenericResource | None = wire("NamedResourceSpec", default=None)
    discrete_resource_spec: DiscreteGenericResource | None = wire(
        "DiscreteResourceSpec", default=None
    )


@model
class Resources(WireModel):
    """CPU in billionths of a CPU, memory in bytes, plus generic resources."""

    nano_cpus: int = wire("NanoCPUs", default=0)
    memory_bytes: int = wire("MemoryBytes", default=0)
    generic_resources: tuple[GenericResource, ...] = wire("GenericResources", default=())


@model
class Limit(WireModel):
    nano_cpus: int = wire("NanoCPUs", default=0)
    memory_bytes: int = wire("MemoryBytes", default=0)
    pids: int = wire("Pids", default=0)


@model
class ResourceRequirements(WireModel):
    limits: Limit | None = wire("Limits", default=None)
    reservations: Resources | None = wire("Reservations", default=None)


@model
class TLSInfo(WireModel):
    """The root CA and issuer a node or the cluster trusts (PEM, and DER in base64)."""

    trust_root: str = wire("TrustRoot", default="")
    cert_issuer_subject: str = wire("CertIssuerSubject", default="")
    cert_issuer_public_key: str = wire("CertIssuerPublicKey", default="")
