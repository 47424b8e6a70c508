"""Subject names encoded as Go encodes them, so DER (and ``CertIssuerSubject``) matches Docker.

Go's ``encoding/asn1`` writes a string as PrintableString when every character allows it and
as UTF8String otherwise; cryptography defaults to UTF8String. Docker shows the root's subject
DER in ``TLSInfo.CertIssuerSubject`` (``MBMxETAPBgNVBAMTCHN3YXJtLWNh`` for CN=swarm-ca).
"""

from __future__ import annotations

import string
from typing import Final

from cryptography import x509
from cryptography.x509.name import _ASN1Type

# Go's asn1.isPrintable when marshalling (asterisk allowed, ampersand not).
_PRINTABLE: Final = frozenset(string.ascii_letters + string.digits + " '()+,-./:=?*")


def attribute(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute[str]:
    """``oid=value`` with Go's choice of string type."""
    kind = _ASN1Type.PrintableString if set(value) <= _PRINTABLE else _ASN1Type.UTF8String
    return x509.NameAttribute(oid, value, kind)
