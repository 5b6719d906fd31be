"""Put content into a test registry: whole images with `skopeo copy`, raw blobs and manifests with plain HTTP.

`push_image` builds a one-layer OCI layout in Python and copies it with Debian's skopeo, so images are
written by an independent, real client. `RawPusher` speaks the OCI distribution spec directly
(monolithic upload, manifest PUT) with its own small auth handling (not sigwebhook's adapter), for
registry-shaped vectors such as cosign `.sig` manifests and referrers fallback indexes.
"""

from __future__ import annotations

import base64
import re
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

import httpx

from app.core.digests import Digest
from tests.support.oci_layout import build_image, write_layout
from tests.support.registry_server import TestRegistry

SKOPEO = shutil.which("skopeo") or "/usr/bin/skopeo"


def push_image(registry: TestRegistry, repo: str, tag: str, content: bytes = b"hello") -> Digest:
    """Build a one-layer OCI image holding `content`, push it with skopeo to `repo:tag`; return its digest."""
    image = build_image(content)
    with tempfile.TemporaryDirectory(prefix="oci-layout-") as tmp:
        layout = write_layout(image, Path(tmp) / "layout", tag)
        digest_file = Path(tmp) / "digest"
        command = [
            SKOPEO,
            "--insecure-policy",
            "copy",
            "--retry-times",
            "0",
            "--digestfile",
            str(digest_file),
        ]
        if registry.tls is not None:
            cert_dir = Path(tmp) / "certs"
            cert_dir.mkdir()
            shutil.copy(registry.tls.ca_file, cert_dir / "ca.crt")
            command += ["--dest-tls-verify=true", "--dest-cert-dir", str(cert_dir)]
        else:
            command += ["--dest-tls-verify=false"]
        if registry.username is not None:
            command += ["--dest-creds", f"{registry.username}:{registry.password}"]
        else:
            command += ["--dest-no-creds"]
        command += [f"oci:{layout}:{tag}", f"docker://{registry.host}/{repo}:{tag}"]
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "REGISTRY_AUTH_FILE": str(Path(tmp) / "auth.json")}
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"skopeo copy to {registry.host}/{repo}:{tag} failed: {result.stderr.strip()}")
        pushed = Digest.parse(digest_file.read_text().strip())
    if pushed != image.digest:
        raise RuntimeError(f"skopeo rewrote the manifest: pushed {pushed}, built {image.digest}")
    return pushed


class RawPusher:
    """Minimal distribution-spec writer for tests: `put_blob`, `put_manifest`, `get`. Not the adapter."""

    def __init__(self, registry: TestRegistry) -> None:
        self.registry = registry
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(registry.ca_file)) if registry.ca_file else True
        )
        self._client = httpx.Client(base_url=registry.url, verify=verify, timeout=10)
        self._auth: dict[str, str] = {}  # scope -> Authorization header value

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RawPusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def put_blob(self, repo: str, data: bytes) -> Digest:
        """Monolithic upload: POST an upload session, then PUT the bytes with `?digest=`."""
        digest = Digest.of(data)
        started = self._request("POST", f"/v2/{repo}/blobs/uploads/", repo)
        _expect(started, 202)
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        done = self._request(
            "PUT",
            f"{location}{separator}digest={digest}",
            repo,
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        _expect(done, 201)
        return digest

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> Digest:
        """PUT `data` as a manifest at `reference` (a tag or its digest); return the digest of the bytes."""
        answer = self._request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            repo,
            content=data,
            headers={"Content-Type": media_type},
        )
        _expect(answer, 201)
        return Digest.of(data)

    def get(self, path: str, repo: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self._request("GET", path, repo, headers=headers)

    def _request(
        self,
        method: str,
        url: str,
        repo: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        scope = f"repository:{repo}:pull,push"
        headers = dict(headers or {})
        if scope in self._auth:
            headers["Authorization"] = self._auth[scope]
        answer = self._client.request(method, url, content=content, headers=headers)
        if answer.status_code == 401 and scope not in self._auth:
            self._auth[scope] = self._login(answer.headers.get("WWW-Authenticate", ""), scope)
            headers["Authorization"] = self._auth[scope]
            answer = self._client.request(method, url, content=content, headers=headers)
        return answer

    def _login(self, challenge: str, scope: str) -> str:
        user, password = self.registry.username or "", self.registry.password or ""
        basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if challenge.lower().startswith("basic"):
            return basic
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        answer = self._client.get(
            params["realm"],
            params={"service": params.get("service", ""), "scope": scope},
            headers={"Authorization": basic},
        )
        _expect(answer, 200)
        body = answer.json()
        return f"Bearer {body.get('token') or body['access_token']}"


def _expect(answer: httpx.Response, status: int) -> None:
    if answer.status_code != status:
        raise RuntimeError(
            f"{answer.request.method} {answer.request.url.path} answered {answer.status_code}, "
            f"expected {status}: {answer.text[:300]}"
        )
