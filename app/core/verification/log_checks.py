"""Step 2 of verifying an entity: its transparency-log entries, offline, against the trusted root.

For each entry (sigstore-go `VerifyTlogEntry`, cosign `VerifyBundle`; docs/formats.md#tlog-entries):
1. the log is chosen by log ID among the root's `tlogs` (entries of logs the root does not list are
   skipped, as sigstore-go does: they prove nothing to this root); the same (log, index) twice is refused;
2. the body is about this signature (CVE-2022-36056): its kind/version is the declared one, it records
   these signature bytes, this certificate or key, and the hash of this content (hashedrekord: the
   signed bytes; dsse/intoto: the DSSE payload);
3. a SET, when present, verifies with the log's key, and the log was trusted at its integrated time,
   which may not lie in the future;
4. an inclusion proof, when present, leads from the body's leaf hash to the root of a checkpoint the
   log signed (Rekor v2: origin and signer are the log's host name; Rekor v1: the key ID selects the
   line), with the same tree size and root hash; Rekor v2 entries must have one and never a SET;
5. an entry with neither a SET nor a proof proves nothing.
Every entry from a trusted log must pass; one that fails rejects the signature (`NotVerified`, step
"tlog"). Only a verified SET gives a trusted time; a proof alone does not. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from app.core.errors import NotVerified, SignatureFormatError
from app.core.formats.dsse import Envelope
from app.core.transparency.bodies import MESSAGE, LoggedSignature, parse_body
from app.core.transparency.checkpoints import parse_checkpoint
from app.core.transparency.entries import LogEntry, is_rekor_v2, set_problem
from app.core.transparency.merkle import inclusion_problem, leaf_hash
from app.core.trust.roots import LogInstance, TrustedRoot
from app.core.verification.entities import SignedEntity

FUTURE_TOLERANCE = timedelta(minutes=5)  # clock skew between the log and this host
LATEST_TIME = 253402300799  # 9999-12-31T23:59:59Z, the last second `datetime` can hold


@dataclass(frozen=True)
class VerifiedLogEntry:
    """A log entry that passed: where it is, and when the log says it was added (only with a SET)."""

    log_url: str
    log_id: str  # hex
    log_index: int
    integrated_time: datetime | None
    log: LogInstance = field(compare=False, repr=False)


def verify_log_entries(
    entity: SignedEntity, verifier_der: bytes, root: TrustedRoot, now: datetime
) -> tuple[VerifiedLogEntry, ...]:
    """Every entry of a log `root` trusts, verified; `NotVerified` ("tlog") when one fails."""
    seen: set[tuple[bytes, int]] = set()
    verified = []
    for entry in entity.log_entries:
        if (entry.log_id, entry.log_index) in seen:
            raise NotVerified("tlog", "the same transparency log entry is given twice")
        seen.add((entry.log_id, entry.log_index))
        log = root.tlog(entry.log_id)
        if log is None:
            continue
        problem = _entry_problem(entry, log, entity, verifier_der, now)
        if problem:
            raise NotVerified("tlog", f"transparency log entry {entry.log_index} ({log.base_url}): {problem}")
        moment = _integrated(entry) if entry.signed_entry_timestamp else None
        verified.append(VerifiedLogEntry(log.base_url, log.log_id.hex(), entry.log_index, moment, log))
    return tuple(verified)


def _entry_problem(
    entry: LogEntry, log: LogInstance, entity: SignedEntity, verifier_der: bytes, now: datetime
) -> str | None:
    try:
        logged = parse_body(entry.body)
    except SignatureFormatError as exc:
        return exc.reason
    if entry.kind is not None and (entry.kind, entry.version) != (logged.kind, logged.version):
        return f"declared kind {entry.kind} {entry.version} is not the logged {logged.kind} {logged.version}"
    problem = binding_problem(logged, entity, verifier_der)
    if problem:
        return problem
    rekor_v2 = is_rekor_v2(logged.kind, logged.version)
    if rekor_v2 and (entry.inclusion_proof is None or entry.signed_entry_timestamp):
        return "Rekor v2 entry needs an inclusion proof and has no SET"
    if entry.signed_entry_timestamp is None and entry.inclusion_proof is None:
        return "entry has neither a signed entry timestamp nor an inclusion proof"
    if entry.signed_entry_timestamp is not None:
        problem = set_problem(entry, log.key) or _time_problem(entry, log, now)
        if problem:
            return problem
    return _proof_problem(entry, log, rekor_v2) if entry.inclusion_proof is not None else None


def binding_problem(logged: LoggedSignature, entity: SignedEntity, verifier_der: bytes) -> str | None:
    """Why the logged entry is not about `entity`'s signature (None when it is)."""
    if logged.signature is None:
        return f"{logged.kind} {logged.version} entries do not record the signature; cannot bind it"
    if logged.signature != entity.signature:
        return "entry records another signature"
    if logged.verifier != verifier_der:
        return "entry records another key or certificate"
    if logged.digest_of == MESSAGE:
        if logged.digest != entity.message_digest(logged.algorithm):
            return "entry records another artifact hash"
    elif not isinstance(entity.content, Envelope) or logged.digest != entity.payload_digest(logged.algorithm):
        return "entry records another DSSE payload hash"
    return None


def _time_problem(entry: LogEntry, log: LogInstance, now: datetime) -> str | None:
    moment = _integrated(entry)
    if moment > now + FUTURE_TOLERANCE:
        return f"integrated time {moment:%Y-%m-%dT%H:%M:%SZ} is in the future"
    if not log.valid_for.contains(moment):
        return f"the log's key was not trusted at the integrated time {moment:%Y-%m-%dT%H:%M:%SZ}"
    return None


def _proof_problem(entry: LogEntry, log: LogInstance, rekor_v2: bool) -> str | None:
    proof = entry.inclusion_proof
    assert proof is not None
    problem = inclusion_problem(proof, leaf_hash(entry.body))
    if problem:
        return problem
    try:
        checkpoint = parse_checkpoint(entry.checkpoint or "")
    except SignatureFormatError as exc:
        return exc.reason
    if (checkpoint.tree_size, checkpoint.root_hash) != (proof.tree_size, proof.root_hash):
        return "checkpoint is for another tree than the inclusion proof"
    if rekor_v2 and checkpoint.origin != log.host:
        return f"checkpoint origin is not the log's host {log.host}"
    return checkpoint.problem(log.host, log.checkpoint_key_id, log.key, match_name=rekor_v2)


def _integrated(entry: LogEntry) -> datetime:
    if entry.integrated_time > LATEST_TIME:
        return datetime.max.replace(tzinfo=UTC)  # absurd: reads as "in the future"
    return datetime.fromtimestamp(entry.integrated_time, UTC)
