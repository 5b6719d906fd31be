"""sigwebhook: admit only images signed with cosign, by keys or keyless identities (v2 `.sig` tags and v3
sigstore bundles, transparency-log proofs checked offline).

Package layout, top to bottom (see README "Architecture"; import-linter enforces the order):

- `app.cli`             the `sigwebhook` command line
- `app.compose`         the composition root: the one place objects are built from settings
- `app.webhook`         the FastAPI admission server
- `app.kube`            the Kubernetes client adapter (watched Secrets, pods' pull Secrets)
- `app.registry`        the OCI distribution client (httpx) behind the core's `Registry` port
- `app.signing`         signing and writing signatures (cosign key files, both layouts)
- `app.config`          the webhook's YAML config, mapped to the core's policy types
- `app.trust_updates`   a Sigstore trusted root fetched through TUF (`update-trusted-root` only)
- `app.trust_files`     Sigstore trusted roots read from files, and the bounded reader of every input file
- `app.clock`           the system clock behind the core's `Clock` port
- `app.core`            the pure verification and admission-decision core (stdlib + cryptography only)
"""
