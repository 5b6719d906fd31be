"""The admission webhook's HTTP side; objects are built by `app.compose.build_webhook`.

- `app`: the FastAPI application (`POST /validate`, `POST /mutate`, `GET /healthz`, `GET /readyz`).
- `review`: one review from bytes to answer (decision, audit line, AdmissionReview response).
- `podverifiers`: the verifier a review uses, with the pod's own pull credentials when enabled.
- `cache`: the in-memory verdict cache.
- `tls`: the serving certificate (configured files, or a self-signed one).
- `server`: uvicorn over TLS, reloading a renewed certificate.
- `metrics` and `metrics_server`: the Prometheus collectors and their own plain-HTTP port.

Decisions and digest-pinning patches are the core's (`app.core.admission`).
"""
