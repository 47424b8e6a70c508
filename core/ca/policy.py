"""SwarmKit's PKI constants (``ca/certificates.go``, ``ca/config.go``), in seconds."""

from __future__ import annotations

from typing import Final

from core.model.enums import NodeRole

#: Common name of every swarm root CA (``DefaultRootCN``).
ROOT_CN: Final = "swarm-ca"
#: The OU of a manager's certificate, and the TLS server name nodes dial managers with.
MANAGER_OU: Final = "swarm-manager"
#: The OU of a worker's certificate.
WORKER_OU: Final = "swarm-worker"
#: Extra SAN of manager certificates: the name a joining node dials to get its first one.
CA_SAN: Final = "swarm-ca"

ROLE_OU: Final = {NodeRole.MANAGER: MANAGER_OU, NodeRole.WORKER: WORKER_OU}
OU_ROLE: Final = {ou: role for role, ou in ROLE_OU.items()}

HOUR: Final = 3600
#: Root CA lifetime (``RootCAExpiration = "630720000s"``, 20 years).
ROOT_CA_EXPIRY: Final = 630_720_000
#: Root CA backdate: cfssl's ``initca`` signs with no profile backdate, so its default
#: of 5 minutes applies (``signer.FillTemplate``).
ROOT_CA_BACKDATE: Final = 5 * 60
#: Node certificate lifetime by default (``DefaultNodeCertExpiration = 2160h``, 90 days).
DEFAULT_NODE_CERT_EXPIRY: Final = 2160 * HOUR
#: Shortest node certificate lifetime ``swarm update --cert-expiry`` accepts.
MIN_NODE_CERT_EXPIRY: Final = HOUR
#: Node certificates are backdated by an hour against clock skew (``CertBackdate``).
NODE_CERT_BACKDATE: Final = HOUR
#: Renewal happens at a random point between these fractions of a certificate's life.
RENEW_LOWER: Final = 0.5
RENEW_UPPER: Final = 0.8
#: How long a node whose certificate has expired waits before trying to renew again.
EXPIRED_RENEWAL_RETRY: Final = 5 * 60
