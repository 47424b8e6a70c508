"""The cluster PKI: root CA, node certificates, renewal, join tokens (SwarmKit's ``ca/``).

Everything here is deterministic: keys are derived from the driver's ``entropy(n)`` bytes,
serial numbers come from the same stream, validity windows from a wall time passed in, and
ECDSA signatures are RFC 6979 deterministic. The same entropy stream and wall time give
byte-identical certificates, so a simulated swarm's trace does not depend on the machine.

Modules: ``policy`` (SwarmKit's constants), ``keys`` (key derivation, serials, PEM),
``validity`` (validity windows), ``names`` (subject strings as Go encodes them),
``template`` (what root and node certificates share), ``root`` (the root CA), ``issue``
(CSRs and signing), ``verify`` (what the transport checks), ``renewal`` (when to renew),
``tokens`` (join tokens), ``credentials`` (a node's key, certificate and root),
``cluster`` (the CA as the Cluster object keeps it), ``errors``.
"""
