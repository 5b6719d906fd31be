"""The pure core of sigwebhook: image references, keys, signature formats, verification and decisions.

This package must stay pure. It imports the standard library and `cryptography` only: never httpx,
kubernetes, FastAPI, uvicorn, PyNaCl or YAML, and never another `app` package. All I/O reaches it
through the small protocols in `app.core.ports` (registry, clock, verdict cache), injected by the
composition root. The import-linter contract in `pyproject.toml` enforces this.
"""
