"""What ``swarm update`` does to the cluster's CA (``docker swarm ca``, SwarmKit's
``validateCAConfig`` through ``UpdateCluster``): a rotation to a new root when
``CAConfig.ForceRotate`` changed or a ``SigningCACert``/``SigningCAKey`` pair names a new
root; a refusal for external CAs, which shoal does not have.

The spec keeps neither the signing certificate nor its key once handled: the cluster's
``RootCA`` holds them, and a spec read back (``docker swarm inspect``) and sent again
must not start the same rotation twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from core.ca import rotation
from core.ca.errors import CAError
from core.ca.keys import Entropy
from core.ca.rotation import requested_root
from core.manager.requests import ApiError
from core.model import replace
from core.model.cluster import Cluster, ClusterRootCA, ClusterSpec

EXTERNAL_CA_UNSUPPORTED: Final = (
    "external CAs are not supported by this version of shoal: "
    "rotate to a CA certificate and key given with --ca-cert and --ca-key instead"
)


def refuse_external_ca(spec: ClusterSpec) -> None:
    """shoal signs every certificate itself: a spec naming an external CA is refused
    rather than kept while nothing uses it."""
    if spec.ca_config.external_cas:
        raise ApiError("InvalidArgument", EXTERNAL_CA_UNSUPPORTED)


def ca_update(
    current: Cluster,
    spec: ClusterSpec,
    params: Mapping[str, Any],
    entropy: Entropy | None,
    wall: float,
) -> tuple[ClusterSpec, Cluster]:
    """The spec to store and the cluster's CA fields after this update. shoal's own
    CLI asks with ``rotate_ca`` (ForceRotate + 1) and ``ca_cert``/``ca_key`` (PEM);
    the Engine API with the spec's ``CAConfig``."""
    refuse_external_ca(spec)
    ca = spec.ca_config
    if params.get("ca_cert") or params.get("ca_key"):
        ca = replace(
            ca,
            signing_ca_cert=str(params.get("ca_cert") or ""),
            signing_ca_key=str(params.get("ca_key") or ""),
        )
    elif params.get("rotate_ca"):
        ca = replace(ca, force_rotate=current.spec.ca_config.force_rotate + 1)
    stored = current.root_ca
    root_ca: ClusterRootCA | None = stored
    if stored is not None:
        makes_root = not ca.signing_ca_cert and ca.force_rotate != stored.last_forced_rotation
        if entropy is None and makes_root:
            raise ApiError("Internal", "no entropy to make a new root CA with")
        try:
            root_ca = requested_root(stored, ca, entropy or _no_entropy, wall)
        except CAError as error:
            raise ApiError("InvalidArgument", str(error)) from None
    kept = replace(spec, ca_config=replace(ca, signing_ca_cert="", signing_ca_key=""))
    if root_ca is stored or root_ca is None:
        return kept, current
    return kept, replace(
        current,
        root_ca=root_ca,
        tls_info=rotation.cluster_tls_info(root_ca),
        root_rotation_in_progress=root_ca.root_rotation is not None,
    )


def _no_entropy(size: int) -> bytes:
    """Stands in for entropy when the update makes no new root (nothing draws on it)."""
    raise ApiError("Internal", "no entropy to make a new root CA with")
