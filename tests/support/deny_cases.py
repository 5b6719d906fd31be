"""The world the CLI deny matrix (`tests/cli/test_cli_deny_matrix.py`) arranges its cases in.

`World` holds the real registries, the trusted and a stranger key, and the images several cases share;
each arrangement function pushes (skopeo), signs (`sigwebhook sign`) and tampers (`tests.support.tamper`)
what one case needs and returns a `Target`: the image argument, the registry options, and the digest the
report must name. Arrangements make their own repositories, so cases never see each other's signatures.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from app.core.digests import Digest
from app.core.formats.simplesigning import build_payload
from app.core.verification.verdicts import SignatureFormat
from app.signing.signingkey import SigningKey, load_signing_key
from tests.fixtures.signing import KeyPair, sign_image
from tests.support import tamper
from tests.support.pushing import RawPusher, push_image
from tests.support.registry_server import TestRegistry, free_port

V2, V3 = SignatureFormat.COSIGN_V2_SIG_TAG, SignatureFormat.COSIGN_V3_BUNDLE


@dataclass(frozen=True)
class Target:
    """What to verify: the image argument, the registry options, and the digest the report must name."""

    image: str
    args: list[str]
    digest: Digest | None = None


class World:
    """Registries, keys and images shared by a module's cases (images are made on first use)."""

    def __init__(
        self,
        registry: TestRegistry,
        private: Callable[[], TestRegistry],
        key_pairs: dict[str, KeyPair],
        tmp: Path,
    ) -> None:
        self.registry, self._private = registry, private
        self.trusted, self.stranger = key_pairs["ecdsa-p256"], key_pairs["rsa-openssl"]
        self.raw = RawPusher(self.registry)
        self.tmp = tmp
        self._signed: dict[SignatureFormat, tuple[str, Digest]] = {}

    @property
    def args(self) -> list[str]:
        return ["--insecure-registry", self.registry.host]

    @cached_property
    def signing_key(self) -> SigningKey:
        """The trusted key's private half, for signatures the helpers build by hand."""
        password = (self.trusted.password or "").encode()
        return load_signing_key(self.trusted.private, lambda: password)

    def image(self, repo: str, tag: str = "v1") -> str:
        return f"{self.registry.host}/{repo}:{tag}"

    def fresh(self, name: str) -> tuple[str, Digest]:
        """A new repository holding one unsigned image at tag `v1` (content unique to it)."""
        repo = f"deny/{name}-{uuid.uuid4().hex[:8]}"
        return repo, push_image(self.registry, repo, "v1", content=repo.encode())

    @cached_property
    def signer(self) -> KeyPair:
        """The trusted key pair with its private half rewritten as plain PKCS#8 PEM (the openssl workflow):
        the same key, signing through the same CLI, without paying scrypt (N=32768) for every signature."""
        path = self.tmp / "trusted-plain.key"
        path.write_bytes(
            self.signing_key.private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return KeyPair(self.trusted.kind, path, self.trusted.public, None)

    def sign(self, repo: str, fmt: SignatureFormat, key: KeyPair | None = None) -> None:
        sign_image(self.image(repo), key or self.signer, self.args, bundle=fmt is V3)

    def signed(self, fmt: SignatureFormat) -> tuple[str, Digest]:
        """One image signed by the trusted key in `fmt` only, shared by the cases that leave it intact."""
        if fmt not in self._signed:
            repo, digest = self.fresh(f"signed-{fmt.value}")
            self.sign(repo, fmt)
            self._signed[fmt] = (repo, digest)
        return self._signed[fmt]

    @cached_property
    def private(self) -> TestRegistry:
        """The TLS + htpasswd registry (started only when a case needs it)."""
        return self._private()

    def private_args(self, *, credentials: bool) -> list[str]:
        assert self.private.ca_file is not None
        args = ["--ca-file", f"{self.private.host}={self.private.ca_file}"]
        if credentials:
            config = self.tmp / "docker-config.json"
            config.write_text(json.dumps(self.private.docker_config()))
            args += ["--registry-config", str(config)]
        return args

    @cached_property
    def private_image(self) -> tuple[str, Digest]:
        """An image in the TLS + htpasswd registry, signed by the trusted key in both layouts."""
        repo = f"deny/private-{uuid.uuid4().hex[:8]}"
        digest = push_image(self.private, repo, "v1", content=repo.encode())
        image = f"{self.private.host}/{repo}:v1"
        for bundle in (False, True):
            sign_image(image, self.signer, self.private_args(credentials=True), bundle=bundle)
        return image, digest


# --- arrangements: each returns what to verify -------------------------------------------------------


def untouched(fmt: SignatureFormat) -> Callable[[World], Target]:
    def arrange(w: World) -> Target:
        repo, digest = w.signed(fmt)
        return Target(w.image(repo), w.args, digest)

    return arrange


def unsigned(w: World) -> Target:
    repo, digest = w.fresh("unsigned")
    return Target(w.image(repo), w.args, digest)


def signed_by_another_key(fmt: SignatureFormat) -> Callable[[World], Target]:
    def arrange(w: World) -> Target:
        repo, digest = w.fresh("stranger")
        w.sign(repo, fmt, key=w.stranger)
        return Target(w.image(repo), w.args, digest)

    return arrange


def tag_moved_after_signing(fmt: SignatureFormat) -> Callable[[World], Target]:
    def arrange(w: World) -> Target:
        repo, signed = w.fresh("moved")
        w.sign(repo, fmt)
        moved = push_image(w.registry, repo, "v1", content=b"not what was reviewed")
        assert moved != signed
        return Target(w.image(repo), w.args, moved)  # the report must name the new content

    return arrange


def copied_onto_another_image(fmt: SignatureFormat) -> Callable[[World], Target]:
    def arrange(w: World) -> Target:
        repo, source = w.signed(fmt)
        target = push_image(w.registry, repo, f"other-{fmt.value}", content=b"never signed " + fmt.encode())
        if fmt is V2:
            tamper.copy_sig_manifest(w.raw, repo, source, target)
        else:
            tamper.copy_referrer(w.raw, repo, source, target)
        return Target(w.image(repo, f"other-{fmt.value}"), w.args, target)

    return arrange


def payload_changed_after_signing(fmt: SignatureFormat) -> Callable[[World], Target]:
    # The change keeps every claim true (same image digest), so only the signature can catch it.
    def arrange(w: World) -> Target:
        repo, digest = w.fresh("payload")
        w.sign(repo, fmt)
        if fmt is V2:
            payload = json.loads(tamper.sig_payload(w.raw, repo, digest))
            assert payload["critical"]["image"]["docker-manifest-digest"] == str(digest)
            payload["optional"] = {"approved-by": "nobody who signed this"}
            tamper.replace_sig_payload(w.raw, repo, digest, json.dumps(payload).encode())
        else:
            statement = tamper.bundle_statement(w.raw, repo, digest)
            assert statement["subject"][0]["digest"] == {"sha256": digest.hex}
            statement["subject"][0]["annotations"] = {"approved-by": "nobody who signed this"}
            tamper.replace_bundle_statement(w.raw, repo, digest, json.dumps(statement).encode())
        return Target(w.image(repo), w.args, digest)

    return arrange


def signature_annotation_not_base64(w: World) -> Target:
    repo, digest = w.fresh("not-base64")
    w.sign(repo, V2)
    tamper.set_sig_annotation(w.raw, repo, digest, "this is *not* base64!")
    return Target(w.image(repo), w.args, digest)


def hand_built_sig_layer(payload: Callable[[World, str, Digest], bytes]) -> Callable[[World], Target]:
    """A `.sig` layer holding `payload`, signed by the trusted key (so parsing it is what decides)."""

    def arrange(w: World) -> Target:
        repo, digest = w.fresh("hand-sig")
        tamper.push_sig_layer(w.raw, repo, digest, payload(w, repo, digest), w.signing_key)
        return Target(w.image(repo), w.args, digest)

    return arrange


def cosign_payload(w: World, repo: str, digest: Digest) -> bytes:
    return build_payload(f"{w.registry.host}/{repo}", digest)


def not_json(w: World, repo: str, digest: Digest) -> bytes:
    return b"critical: not json at all " + str(digest).encode()


def hand_built_bundle(bundle: Callable[[World, Digest], bytes], predicate: str) -> Callable[[World], Target]:
    """A referrer (listed in the fallback index) holding `bundle`."""

    def arrange(w: World) -> Target:
        repo, digest = w.fresh("hand-bundle")
        tamper.push_bundle_referrer(w.raw, repo, digest, bundle(w, digest), predicate)
        return Target(w.image(repo), w.args, digest)

    return arrange


def signed_statement(predicate: str) -> Callable[[World, Digest], bytes]:
    return lambda w, digest: tamper.signed_bundle(w.signing_key, digest, predicate)


def garbage_json(w: World, digest: Digest) -> bytes:
    return b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "dsseEnvelope": '


def missing_tag(w: World) -> Target:
    repo, _ = w.signed(V2)
    return Target(w.image(repo, "never-pushed"), w.args)


def missing_repository(w: World) -> Target:
    return Target(w.image(f"deny/never-pushed-{uuid.uuid4().hex[:8]}"), w.args)


def missing_digest(w: World) -> Target:
    repo, _ = w.signed(V2)
    return Target(f"{w.registry.host}/{repo}@sha256:{'0' * 64}", w.args)


def registry_down(w: World) -> Target:
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    return Target(f"{host}/deny/app:v1", ["--insecure-registry", host])


def private_registry(credentials: bool) -> Callable[[World], Target]:
    def arrange(w: World) -> Target:
        image, digest = w.private_image
        return Target(image, w.private_args(credentials=credentials), digest if credentials else None)

    return arrange
