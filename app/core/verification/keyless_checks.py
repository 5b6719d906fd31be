"""Step 4 of verifying an entity signed with a Fulcio certificate: chain, SCT and identity.

At every trusted time (a verified SET's integrated time, a verified RFC 3161 time) the leaf must chain
to a certificate authority of the trusted root that was valid then, with the leaf itself valid then
(sigstore-go verifies the chain at each verified timestamp; conformance
`integrated-time-in-future_fail`, `intoto-expired-certificate_fail`,
`rekor2-timestamp-with-incorrect-time_fail`). The leaf must be for code signing, carry an embedded SCT
from a trusted CT log (RFC 6962 §3.3, unless the policy waives it), and name an identity. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509

from app.core.errors import NotVerified, SignatureFormatError
from app.core.transparency.scts import embedded_scts, verified_sct_logs
from app.core.trust.certificates import authority_problem, code_signing_problem
from app.core.trust.identities import CertificateIdentity, identity_of
from app.core.trust.keys import TrustedKey
from app.core.trust.roots import TrustedRoot
from app.core.verification.time_checks import TrustedTime


def verify_certificate(
    leaf: x509.Certificate, root: TrustedRoot, times: Sequence[TrustedTime], require_sct: bool
) -> CertificateIdentity:
    """The identity of `leaf` once it is proven trusted at every time; `NotVerified` otherwise."""
    if not times:
        raise NotVerified(
            "timestamp",
            "keyless signature has no verified transparency log entry or RFC 3161 timestamp "
            "to prove when it was signed",
        )
    problem = code_signing_problem(leaf)
    if problem:
        raise NotVerified("certificate", problem)
    path: tuple[x509.Certificate, ...] = ()
    for time in times:
        authority, problem = authority_problem(leaf, root.certificate_authorities, time.moment, "Fulcio CA")
        if authority is None:
            raise NotVerified("certificate", f"signing certificate at {time.source}: {problem}")
        path = authority.certificates
    if require_sct:
        _check_sct(leaf, path, root)
    try:
        return identity_of(leaf)
    except SignatureFormatError as exc:
        raise NotVerified("identity", exc.reason) from exc


def _check_sct(leaf: x509.Certificate, path: Sequence[x509.Certificate], root: TrustedRoot) -> None:
    if not embedded_scts(leaf):
        raise NotVerified("sct", "signing certificate has no embedded SCT (certificate transparency)")

    def ct_log_key(log_id: bytes, moment: datetime) -> TrustedKey | None:
        log = root.ctlog_at(log_id, moment)
        return log.key if log else None

    logs, problems = verified_sct_logs(leaf, path, ct_log_key)
    if not logs:
        raise NotVerified("sct", f"no embedded SCT verifies with a trusted CT log: {problems[0]}")
