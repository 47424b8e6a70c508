"""The leader's root rotation reconciler (SwarmKit's ``ca/reconciler.go``).

While the cluster's ``RootCA`` has a ``RootRotation``, the leader looks, once a second,
at what every node reports as its certificate's issuer (``Description.TLSInfo``, sent
when the node registers). Nodes renew on their own once the dispatcher's roots show
the rotation (:meth:`core.node.SwarmNode._trust`), so the reconciler only waits: when
every node in the store reports the new root, it finishes the rotation in one write
(the new root becomes the cluster's root, the rotation is cleared, both join tokens are
made anew for the new digest). A node that never reports (down, or gone without being
removed) holds the rotation open, as in Docker: ``docker node rm`` it to finish.

The state lives in the store only, so a new leader's reconciler carries a rotation on.
"""

from __future__ import annotations

from core.ca import rotation
from core.ca.keys import Entropy
from core.ca.root import RootCA
from core.ca.tokens import join_token
from core.errors import ShoalError
from core.manager.writes import WriteQueue
from core.model import replace
from core.model.cluster import Cluster, JoinTokens
from core.model.node import Node
from core.store import MemoryStore, WriteTx

#: How often the leader checks whether a rotation has converged.
ROTATION_CHECK_SECONDS = 1.0


class RootRotationReconciler:
    """Finishes a root rotation once every node's certificate is from the new root."""

    def __init__(self, store: MemoryStore, writes: WriteQueue, entropy: Entropy | None) -> None:
        self.store = store
        self.writes = writes
        self.entropy = entropy
        self.checked_at = float("-inf")
        self.finishing = False  # a finishing write is in flight

    def tick(self, mono: float) -> None:
        if mono < self.checked_at + ROTATION_CHECK_SECONDS:
            return
        self.checked_at = mono
        cluster = self._cluster()
        if cluster is None or cluster.root_ca is None or cluster.root_ca.root_rotation is None:
            return
        if not self.finishing and self.converged(cluster):
            self._finish(cluster)

    @property
    def next_deadline(self) -> float | None:
        """A check a second from the last one, while a rotation is under way."""
        cluster = self._cluster()
        if cluster is None or cluster.root_ca is None or cluster.root_ca.root_rotation is None:
            return None
        return self.checked_at + ROTATION_CHECK_SECONDS

    def converged(self, cluster: Cluster) -> bool:
        """Whether every node reports a certificate issued by the rotation's root."""
        assert cluster.root_ca is not None
        issuer = rotation.desired_issuer(cluster.root_ca)
        nodes = self.store.tables["nodes"]
        return all(
            rotation.converged(node.description.tls_info, issuer)
            for key in sorted(nodes)
            if isinstance(node := nodes[key], Node)
        )

    def _cluster(self) -> Cluster | None:
        clusters = self.store.tables["clusters"]
        cluster = clusters[min(clusters)] if clusters else None
        return cluster if isinstance(cluster, Cluster) else None

    def _finish(self, cluster: Cluster) -> None:
        stored = cluster.root_ca
        assert stored is not None and stored.root_rotation is not None
        if self.entropy is None:
            return  # no secrets to make the new join tokens with
        finished = rotation.finish(stored)
        root = RootCA(finished.ca_cert.encode())
        tokens = JoinTokens(
            worker=join_token(root, self.entropy), manager=join_token(root, self.entropy)
        )
        self.finishing = True

        def build(tx: WriteTx) -> None:
            now = tx.get("clusters", cluster.id)
            if not isinstance(now, Cluster) or now.root_ca != stored:
                return  # the rotation changed meanwhile (SwarmKit's errRootRotationChanged)
            tx.update(
                replace(
                    now,
                    root_ca=finished,
                    tls_info=root.tls_info(),
                    root_rotation_in_progress=False,
                    join_tokens=tokens,
                )
            )

        self.writes.submit(build, self._finished)

    def _finished(self, error: ShoalError | None) -> None:
        self.finishing = False
