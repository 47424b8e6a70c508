"""What every certificate the cluster CA makes shares: names, key, serial, window, usage.

The root and node certificates differ only in their usages and the extensions they add
after these; both are cfssl's shape (KeyUsage first and critical, BasicConstraints
critical, a SubjectKeyIdentifier of the certified key).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from core.ca import keys, validity


def certificate_builder(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    span: validity.Window,
    entropy: keys.Entropy,
    ca: bool,
    extra: tuple[x509.ExtensionType, ...] = (),
) -> x509.CertificateBuilder:
    """A builder for ``public`` valid over ``span``, its serial from ``entropy``: a CA
    certifies (cert and CRL signing), a node signs and enciphers keys. ``extra``
    (non-critical) goes between KeyUsage and BasicConstraints, where cfssl puts them."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(keys.serial_number(entropy))
        .not_valid_before(validity.to_datetime(span.not_before))
        .not_valid_after(validity.to_datetime(span.not_after))
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=not ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    for extension in extra:
        builder = builder.add_extension(extension, critical=False)
    return builder.add_extension(
        x509.BasicConstraints(ca=ca, path_length=None), critical=True
    ).add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
