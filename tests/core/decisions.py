"""What the decision tests share: four signers, three images, the `prod` policy, an `AdmissionPolicy`
builder, a scripted `ImageVerifier` and `run`, which decides one AdmissionReview body.

The verifier fake answers like the real one: only keys it is handed can verify a signature, and a
signature by any other key is a rejection."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from app.core.admission.decision import Decision, decide
from app.core.admission.patterns import ImagePattern
from app.core.admission.policy import AdmissionPolicy, Policy, Unmatched
from app.core.admission.review import parse_review
from app.core.digests import Digest
from app.core.references import ImageRef, parse_reference
from app.core.trust.keys import TrustedKey
from app.core.trust.secretkeys import KeySnapshot
from app.core.verification.trust_groups import Trust
from app.core.verification.verdicts import ImageVerdict, RejectedSignature, SignatureFormat, VerifiedSignature
from tests.core.signers import ecdsa

ALICE, BOB, CAROL, MALLORY = (ecdsa(n).key for n in ("alice", "bob", "carol", "mallory"))
APP = "registry.example.com/team/app:1"
DB = "registry.example.com/db/migrate:2"
OTHER = "other.io/tools/shell:1"
V2 = SignatureFormat.COSIGN_V2_SIG_TAG

PROD = Policy("prod", (ImagePattern("registry.example.com/**"),), (ALICE,))
DB_TWO_OF_THREE = Policy(
    "db-quorum", (ImagePattern("registry.example.com/db/**"),), (ALICE, BOB, CAROL), threshold=2
)


@dataclass
class ScriptedVerifier:
    """`signed` maps an image (normalised, without digest) to the keys that signed it; `errors` to
    what verifying it raises; images in `hang` never finish. `calls` records each image asked for
    and the names of the keys it was handed."""

    signed: dict[str, tuple[TrustedKey, ...]] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)
    hang: set[str] = field(default_factory=set)
    calls: list[tuple[str, frozenset[str]]] = field(default_factory=list)

    async def verify(self, ref: ImageRef, trust: Trust) -> ImageVerdict:
        name = str(ref)
        self.calls.append((name, frozenset(s.label for s in trust.signers)))
        if name in self.hang:
            await asyncio.Event().wait()
        if name in self.errors:
            raise self.errors[name]
        verified, rejected = [], []
        for signer in self.signed.get(name, ()):
            found = [
                VerifiedSignature(V2, s.trust_id, s.label, "sig layer", g.basis, signer.fingerprint)
                for g in trust.groups
                for s in g.signers
                if any(k.fingerprint == signer.fingerprint for k in s.keys)
            ]
            if found:
                verified.extend(found)
            else:
                rejected.append(
                    RejectedSignature(V2, "sig layer", "signature does not verify with any trusted key")
                )
        return ImageVerdict(ref, Digest.of(name.encode()), tuple(verified), tuple(rejected))


def policy(*policies: Policy, unmatched: Unmatched = Unmatched.DENY) -> AdmissionPolicy:
    """`policies` with `kube-system` and `sigwebhook` skipped and the pause image exempt."""
    return AdmissionPolicy(
        policies,
        unmatched,
        frozenset({"kube-system", "sigwebhook"}),
        (ImagePattern("registry.k8s.io/pause:*"),),
    )


async def run(body: dict, admission: AdmissionPolicy, verifier: ScriptedVerifier, **kw: object) -> Decision:
    """The decision on the AdmissionReview `body` (`snapshot=`: the current keys of Secrets)."""
    return await decide(parse_review(body), admission, kw.pop("snapshot", KeySnapshot()), verifier, **kw)  # type: ignore[arg-type]


def norm(image: str) -> str:
    """`image` as the verifier is asked for it (normalised)."""
    return str(parse_reference(image))
