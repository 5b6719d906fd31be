"""The pure core of sigwebhook: from an image reference and trusted material to a verdict, and from an
AdmissionReview to allow or deny.

Rooms, in the order a review flows through them (each may use the ones below it, never above; the
import-linter `layers` contracts in `pyproject.toml` enforce this):

- `audits/`: the audit record's schema, reading audit lines back and summarising them, checking
  what runs in the cluster against the policies;
- `admission/`: the review in and out, where pod specs keep their images, policies, the decision,
  digest pinning, the audit record;
- `verification/`: verify one image: resolve, look for both cosign layouts, check each signature;
- `transparency/`: transparency-log evidence (Rekor entries and their proofs, SCTs, RFC 3161 tokens);
- `formats/`: the bytes cosign writes, parsed into frozen values (and built, for `sign`);
- `trust/`: what is trusted: public keys, keys kept in Kubernetes Secrets, Sigstore trusted roots,
  certificate chains and keyless identities;
- the vocabulary every room shares, at this level: `references`, `digests`, `errors`, `ports`,
  `printable`, `strictjson`, `der`, and the small `kits` (expiring cache, shared work) and `deadlines`
  (when the current review's answer is due) that adapters use too.

Pure: the standard library and `cryptography` only, never httpx, kubernetes, FastAPI, uvicorn,
pydantic, PyNaCl or YAML, and never another `app` package. All I/O reaches the core through the
protocols in `ports` (registry, clock, verdict cache, key store, policy source), injected by
`app.compose`.
"""
