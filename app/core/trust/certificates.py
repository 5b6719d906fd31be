"""Certificate chains checked at a moment in the past: Fulcio signing certificates and TSA certificates.

Sigstore's "hybrid model" (sigstore-go `VerifyLeafCertificate`, sigstore-python `_verify_chain_at_time`):
a short-lived leaf is valid when it chained to a trusted authority *at the time it signed*, proved by a
log entry or a timestamp, not now. So each step checks validity at that moment, and an authority is
used only when its trusted-root `validFor` contains it (expired CAs stay good for old signatures).

The path is the one the trusted root lists (leaf-most first, the last one the anchor): the leaf must be
issued by the first certificate, each by the next (name and signature, `verify_directly_issued_by`);
every certificate must be valid at the moment; every issuer must be a CA (basic constraints, key usage
keyCertSign when present, path length); no certificate may carry a critical extension this code does
not understand. Certificates a signature brings along (a bundle's chain, the cosign `chain`
annotation) are never anchors. Pure: returns a problem string, or None when the chain holds.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from app.core.trust.roots import Authority

_UNDERSTOOD = {
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.KEY_USAGE,
    ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ExtensionOID.NAME_CONSTRAINTS,  # none in the chains we read; refused below if present
}


def chain_problem(leaf: x509.Certificate, path: Sequence[x509.Certificate], moment: datetime) -> str | None:
    """Why `leaf` → `path[0]` → … → `path[-1]` is not a valid chain at `moment` (None when it is)."""
    if not path:
        return "trusted authority has no certificates"
    certificates = [leaf, *path]
    names = ["signing certificate", *(f"authority certificate {n}" for n in range(1, len(certificates)))]
    if is_ca(leaf):
        return "signing certificate is a CA certificate"
    for depth, (certificate, what) in enumerate(zip(certificates, names, strict=True)):
        if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
            return f"{what} was not valid at {moment:%Y-%m-%dT%H:%M:%SZ}"
        critical = {e.oid for e in certificate.extensions if e.critical}
        if critical - _UNDERSTOOD or ExtensionOID.NAME_CONSTRAINTS in critical:
            return f"{what} has a critical extension this verifier does not understand"
        if depth == 0:
            continue
        problem = _issuer_problem(certificate, below=depth - 1, what=what)
        if problem:
            return problem
        # Below the leaf both certificates come from the trusted root: the same pair for every
        # signature, so its (pure) signature check is remembered; the leaf's link is checked each time.
        issued = issued_by if depth == 1 else _root_link_issued_by
        if not issued(certificates[depth - 1], certificate):
            return f"{names[depth - 1]} is not issued by {what}"
    return None


def issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when `issuer` signed `child` and is named its issuer."""
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, InvalidSignature, TypeError, UnsupportedAlgorithm):
        return False
    return True


_root_link_issued_by = functools.lru_cache(maxsize=64)(issued_by)


def authority_problem(
    leaf: x509.Certificate, authorities: Sequence[Authority], moment: datetime, kind: str
) -> tuple[Authority | None, str | None]:
    """(the first authority valid at `moment` that `leaf` chains to, None), or (None, why none does)."""
    current = [a for a in authorities if a.valid_for.contains(moment)]
    if not current:
        return None, f"no trusted {kind} is valid at {moment:%Y-%m-%dT%H:%M:%SZ}"
    problems = []
    for authority in current:
        anchored_path = _path_below_leaf(leaf, authority.certificates)
        problem = chain_problem(leaf, anchored_path, moment)
        if problem is None:
            return authority, None
        problems.append(problem)
    return None, f"does not chain to a trusted {kind}: {problems[0]}"


def code_signing_problem(leaf: x509.Certificate) -> str | None:
    """Fulcio's leaf profile: key usage digitalSignature and extended key usage codeSigning."""
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        extended = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "signing certificate lacks key usage or extended key usage"
    if not usage.digital_signature or ExtendedKeyUsageOID.CODE_SIGNING not in extended:
        return "signing certificate is not for code signing"
    return None


def timestamping_problem(leaf: x509.Certificate) -> str | None:
    """RFC 3161 §2.3: the TSA certificate's extended key usage is critical and only timeStamping."""
    try:
        extension = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return "timestamp authority certificate has no extended key usage"
    if not extension.critical or list(extension.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        return "timestamp authority certificate is not only for time stamping (critical)"
    return None


def _path_below_leaf(leaf: x509.Certificate, chain: Sequence[x509.Certificate]) -> Sequence[x509.Certificate]:
    """The authority's chain from the leaf's issuer up: a TSA chain may start with the leaf itself."""
    return chain[1:] if chain and chain[0] == leaf else chain


def is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _issuer_problem(issuer: x509.Certificate, below: int, what: str) -> str | None:
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return f"{what} is not a CA (no basic constraints)"
    if not constraints.ca:
        return f"{what} is not a CA"
    if constraints.path_length is not None and below > constraints.path_length:
        return f"{what} allows a shorter path"
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return None if usage.key_cert_sign else f"{what} may not sign certificates"
