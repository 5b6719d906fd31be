"""sigwebhook: admit only container images signed with cosign (v2 `.sig` tags and v3 sigstore bundles).

Package layout (see README "Architecture"):

- `app.core`     the pure verification and admission-decision core (stdlib + cryptography only)
- `app.registry` the OCI distribution client (httpx) behind the core's `Registry` port
- `app.kube`     the Kubernetes client adapter (Secret watch for keys)
- `app.signing`  signing and writing signatures (cosign key files, both layouts)
- `app.cli`      the `sigwebhook` command line
- `app.webhook`  the FastAPI admission server
"""
