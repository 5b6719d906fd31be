"""Step 3 of verifying an entity: RFC 3161 timestamps from the trusted root's timestamp authorities.

A token is a trusted time when (sigstore-go `VerifySignedTimestamp`, timestamp-authority `verify.go`;
docs/formats.md#rfc3161): it parses and was granted; its imprint is the hash of this signature's bytes;
some TSA of the root signed it — the signer is the TSA's leaf from the root, or a certificate embedded
in the token — and that certificate is only for time stamping and chains to the TSA's anchor *at the
token's time*; and that time lies within the TSA's `validFor` (closed, conformance
`trust-root-tsa-validity-end-inclusive`). Every token present must pass (sigstore-python: "if
verification or timestamp parsing fails, the Verifier MUST abort"); a token twice is refused. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.core.errors import NotVerified, SignatureFormatError
from app.core.transparency.timestamps import TimestampToken, parse_timestamp
from app.core.trust.certificates import chain_problem, is_ca, timestamping_problem
from app.core.trust.roots import Authority, TrustedRoot
from app.core.verification.entities import SignedEntity

TIMESTAMP_SOURCE = "timestamp"  # how a timestamp's time names its source (a log's: "tlog")


@dataclass(frozen=True)
class TrustedTime:
    """A moment the signature provably existed, and who says so."""

    moment: datetime
    source: str  # "tlog https://rekor.sigstore.dev" or "timestamp https://timestamp.sigstore.dev/…"

    @property
    def from_timestamp(self) -> bool:
        """True for the time of an RFC 3161 timestamp (not a log's integrated time)."""
        return self.source.startswith(TIMESTAMP_SOURCE)


def verify_timestamps(entity: SignedEntity, root: TrustedRoot) -> tuple[TrustedTime, ...]:
    """The time of every RFC 3161 token in `entity`; `NotVerified` ("timestamp") when one fails."""
    if len(set(entity.timestamps)) != len(entity.timestamps):
        raise NotVerified("timestamp", "the same RFC 3161 timestamp is given twice")
    times = []
    for data in entity.timestamps:
        try:
            token = parse_timestamp(data)
        except SignatureFormatError as exc:
            raise NotVerified("timestamp", f"RFC 3161 timestamp: {exc.reason}", exc.detail) from exc
        if not token.covers(entity.signature):
            raise NotVerified("timestamp", "RFC 3161 timestamp is for other bytes than this signature")
        authority, problem = _authority_of(token, root)
        if authority is None:
            raise NotVerified("timestamp", f"RFC 3161 timestamp: {problem}")
        times.append(TrustedTime(token.gen_time, f"{TIMESTAMP_SOURCE} {authority.uri}"))
    return tuple(times)


def _authority_of(token: TimestampToken, root: TrustedRoot) -> tuple[Authority | None, str]:
    if not root.timestamp_authorities:
        return None, "the trusted root has no timestamp authorities"
    problems = []
    for authority in root.timestamp_authorities:
        problem = _signed_by(token, authority)
        if problem is None:
            if authority.valid_for.contains(token.gen_time):
                return authority, ""
            problem = f"its time {token.gen_time:%Y-%m-%dT%H:%M:%SZ} is outside the authority's validity"
        problems.append(problem)
    return None, min(problems, key=_specificity)


def _signed_by(token: TimestampToken, authority: Authority) -> str | None:
    chain = authority.certificates
    has_leaf = not is_ca(chain[0])
    candidates = ([chain[0]] if has_leaf else []) + [c for c in token.certificates if token.names(c)]
    if not candidates:
        return "not signed by a trusted timestamp authority"
    problem = "not signed by a trusted timestamp authority"
    for signer in dict.fromkeys(candidates):
        if has_leaf and signer != chain[0]:
            continue  # the root names the authority's own certificate: only that one may sign
        problem = (
            token.signer_problem(signer)
            or timestamping_problem(signer)
            or chain_problem(signer, chain[1:] if has_leaf else chain, token.gen_time)
        ) or ""
        if not problem:
            return None
    return problem


def _specificity(problem: str) -> int:
    """Prefer the reason from the authority that came closest (its signature matched)."""
    return 1 if problem.startswith("not signed by") else 0
