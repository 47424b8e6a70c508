"""The CA as the swarm keeps it: the root in the replicated Cluster object, each issued
certificate on its Node object (SwarmKit's ``Cluster.RootCA`` and ``Node.Certificate``).

Any manager can therefore sign once it leads: the key travels in the Raft log with the
cluster, and the lifetime of new certificates is the cluster's ``CAConfig.NodeCertExpiry``.
"""

from __future__ import annotations

from core.ca import rotation
from core.ca.errors import CAError
from core.ca.issue import sign_node_certificate
from core.ca.keys import Entropy
from core.ca.root import RootCA
from core.model.cluster import Cluster, ClusterRootCA
from core.model.enums import NodeRole
from core.model.node import NodeCertificate

_NS = 10**9


def stored_root(root: RootCA) -> ClusterRootCA:
    """What the Cluster object keeps of ``root`` (which must hold its key)."""
    assert root.key_pem is not None
    return ClusterRootCA(
        ca_cert=root.cert_pem.decode(), ca_key=root.key_pem.decode(), ca_cert_hash=root.digest
    )


def cluster_root(cluster: Cluster) -> RootCA:
    """The signing root of ``cluster``; a cluster without one cannot issue certificates."""
    stored = cluster.root_ca
    if stored is None or not stored.ca_cert:
        raise CAError("no valid signer found")
    return RootCA(stored.ca_cert.encode(), stored.ca_key.encode() or None)


def trust_roots(cluster: Cluster) -> bytes:
    """The roots (PEM) nodes trust now: the cluster's, and during a rotation the new one."""
    stored = cluster.root_ca
    if stored is None or not stored.ca_cert:
        raise CAError("no valid signer found")
    return rotation.trust_bundle(stored)


def issue(
    cluster: Cluster,
    csr_pem: bytes,
    *,
    node_id: str,
    role: NodeRole,
    wall: float,
    entropy: Entropy,
) -> NodeCertificate:
    """Sign ``csr_pem`` for ``node_id`` in ``role`` with the cluster's lifetime, by its
    root, or during a rotation by the new root with the cross-signed intermediate after
    the certificate (the PEM then holds both)."""
    stored = cluster.root_ca
    if stored is None or not stored.ca_cert:
        raise CAError("no valid signer found")
    root, intermediates = rotation.signer(stored)
    pem = sign_node_certificate(
        root,
        csr_pem,
        node_id=node_id,
        role=role,
        cluster_id=cluster.id,
        wall=wall,
        entropy=entropy,
        expiry=cluster.spec.ca_config.node_cert_expiry_ns // _NS,
    )
    return NodeCertificate(role=role, certificate=(pem + intermediates).decode(), cn=node_id)
