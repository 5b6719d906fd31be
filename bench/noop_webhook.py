"""The baseline of `bench/speed_bench.py`: a no-op admission webhook on sigwebhook's own server stack.

A FastAPI app whose `POST /validate` and `POST /mutate` read the AdmissionReview, parse its JSON (a
webhook must echo the request's `uid`) and answer `allowed: true`, served exactly as `sigwebhook serve`
serves: `app.webhook.server.uvicorn_config` (same TLS certificate, keep-alive, no access log) and
`WebhookServer` (the bounded listener with its connection limit and timers), with the same event loop and
HTTP protocol choice. What it costs is the floor any webhook on this stack pays; what sigwebhook costs
beyond it is its decision.

Run: `python3 bench/noop_webhook.py --port P --cert CERT --key KEY [--loop L] [--http H]` (the benchmark
starts it). It prints nothing on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi import FastAPI, Request, Response

from app.webhook.server import DEFAULT_MAX_CONNECTIONS, serve_forever, uvicorn_config
from app.webhook.tls import ServingCertificate


def noop_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    async def allow(request: Request) -> Response:
        review = json.loads(await request.body())
        answer = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": review["request"]["uid"], "allowed": True},
        }
        return Response(json.dumps(answer, separators=(",", ":")), media_type="application/json")

    app.add_api_route("/validate", allow, methods=["POST"])
    app.add_api_route("/mutate", allow, methods=["POST"])
    app.add_api_route("/healthz", lambda: {"status": "ok"}, methods=["GET"])
    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--loop", default="auto", help="uvicorn's event loop: auto, asyncio or uvloop")
    parser.add_argument("--http", default="auto", help="uvicorn's HTTP protocol: auto, h11 or httptools")
    parser.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS)
    args = parser.parse_args()
    certificate = ServingCertificate(args.cert, args.key, generated=False)
    config = uvicorn_config(
        noop_app(), "127.0.0.1", args.port, certificate, deadline_seconds=8.0, loop=args.loop, http=args.http
    )
    return 0 if serve_forever(config, certificate, args.max_connections) else 1


if __name__ == "__main__":
    raise SystemExit(main())
