"""Find the referrers of a manifest: the OCI 1.1 referrers API and the referrers tag schema, asked together.

OCI distribution spec v1.1 "Listing Referrers": `GET /v2/<name>/referrers/<digest>` answers an OCI image
index; a registry without the API answers 404 (400, 405 and 501 are seen too), and clients then read the
index at tag `<alg>-<hex>` ("Referrers Tag Schema"), which signers such as cosign keep up to date. Both are
asked at once and merged, because a signer may have used the tag schema where the API exists. Listing only:
whether a referrer is a signature is for the core to decide.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from app.core.digests import Digest
from app.core.errors import RegistryError
from app.core.formats.layouts import is_bundle_artifact
from app.core.ports import MAX_MANIFEST_BYTES, OCI_INDEX, Descriptor, Manifest
from app.core.references import Repository
from app.registry.api import RegistryApi, path, pull_scope, unexpected
from app.registry.indexes import document_media_type, index_descriptors
from app.registry.replies import Reply

log = logging.getLogger(__name__)

REFERRERS_ABSENT = frozenset({400, 404, 405, 501})  # "no referrers API" (spec: fall back on 404)
FetchManifest = Callable[[Repository, str], Awaitable[Manifest | None]]


async def list_referrers(
    api: RegistryApi, fetch_manifest: FetchManifest, repository: Repository, subject: Digest
) -> list[Descriptor]:
    """Referrers of `subject`, the API's first, duplicates dropped. A missing fallback tag is an empty
    list; an error on one source is ignored (and logged) only when the other listed a possible sigstore
    bundle: otherwise the error is raised, so a broken source never reads as "no signatures"."""
    results = await asyncio.gather(
        _from_api(api, repository, subject),
        _from_tag(fetch_manifest, repository, subject),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, RegistryError):
            raise result  # a bug or a cancellation, not a registry answer: never swallow it
    merged: dict[Digest, Descriptor] = {}
    for found in results:
        if isinstance(found, list):
            for descriptor in found:
                merged.setdefault(descriptor.digest, descriptor)
    failures = [r for r in results if isinstance(r, RegistryError)]
    if failures and not any(is_bundle_artifact(d.artifact_type) for d in merged.values()):
        # No possible bundle found (an SBOM alone does not count) and a source could not be read: that
        # is "could not check", never "unsigned" (cosign 3 writes no fallback tag where the API
        # exists, so a failing API hides every bundle).
        raise failures[0]
    for failed in failures:
        log.info("referrers of %s in %s: one source failed: %s", subject.short(), repository, failed.detail)
    return list(merged.values())


async def supports_referrers_api(api: RegistryApi, repository: Repository, subject: Digest) -> bool:
    """True when `GET /v2/<name>/referrers/<digest>` answers with an OCI index (spec: 404 means no API)."""
    reply = await _ask_api(api, repository, subject)
    if reply.status in REFERRERS_ABSENT:
        return False
    if reply.status != 200:
        raise unexpected(reply, f"probing the referrers API of {repository.registry}")
    return document_media_type(reply.body, reply.media_type) == OCI_INDEX


async def _from_api(api: RegistryApi, repository: Repository, subject: Digest) -> list[Descriptor] | None:
    where = f"referrers of {subject.short()} in {repository}"
    reply = await _ask_api(api, repository, subject)
    if reply.status in REFERRERS_ABSENT:
        return None
    if reply.status != 200:
        raise unexpected(reply, f"listing {where}")
    return index_descriptors(reply.body, reply.media_type, where)


async def _from_tag(
    fetch_manifest: FetchManifest, repository: Repository, subject: Digest
) -> list[Descriptor]:
    manifest = await fetch_manifest(repository, subject.tag_prefix)
    if manifest is None:
        return []
    found = index_descriptors(manifest.data, manifest.media_type, f"{repository}:{subject.tag_prefix}")
    if found is None:
        log.info("%s:%s is not an OCI index; no referrers taken from it", repository, subject.tag_prefix)
    return found or []


async def _ask_api(api: RegistryApi, repository: Repository, subject: Digest) -> Reply:
    return await api.call(
        "GET", repository.registry, path(repository, "referrers", str(subject)), pull_scope(repository),
        f"referrers of {subject.short()} in {repository}", headers={"Accept": OCI_INDEX},
        max_bytes=MAX_MANIFEST_BYTES,
    )  # fmt: skip
