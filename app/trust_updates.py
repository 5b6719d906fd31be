"""Refresh a Sigstore trusted root through TUF from a mirror: trust material fetched by an admin, on
purpose, never on the admission path (the webhook and `verify` only read files).

The Sigstore trusted root is the target `trusted_root.json` of a TUF repository: the public-good one at
`https://tuf-repo-cdn.sigstore.dev`, or a private instance's. python-tuf's `ngclient.Updater` runs the
TUF client workflow (https://theupdateframework.github.io/specification/latest/#detailed-client-workflow):
starting from a TUF root the admin already trusts, it follows root rotations (`2.root.json`, …), then
loads timestamp, snapshot and targets metadata — each signed by a threshold of the keys the trusted root
names, unexpired, and not older than what it replaces — and downloads the target, whose length and hashes
must be those the signed targets metadata lists. Metadata lives at the mirror's top level and targets
under `targets/`, as Sigstore lays them out (consistent snapshots are followed when the root says so).
Only then are the bytes read as a trusted root (`app.core.trust.roots`): a verified target that is not
one is refused too, so nothing unusable is ever written.

python-tuf is an optional dependency (`pip install 'sigwebhook[tuf]'`), imported here only.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from app.core.errors import ConfigError, TrustUpdateError
from app.core.trust.roots import MAX_ROOT_BYTES, TrustedRoot, parse_trusted_root

TRUSTED_ROOT_TARGET = "trusted_root.json"  # the target name Sigstore's TUF repositories use


@dataclass(frozen=True)
class RefreshedRoot:
    """A trusted root fetched through TUF, and the TUF state that vouched for it."""

    data: bytes
    root: TrustedRoot
    tuf_root_version: int  # after following rotations from the bootstrap root
    targets_version: int
    expires: datetime  # the timestamp metadata's expiry: when the mirror must have signed anew


def fetch_trusted_root(mirror: str, tuf_root: bytes, target: str = TRUSTED_ROOT_TARGET) -> RefreshedRoot:
    """`target` of the TUF repository at `mirror`, verified from the TUF root `tuf_root` (JSON bytes)
    and parsed as a trusted root; `TrustUpdateError` saying why not (`ConfigError` when python-tuf is
    not installed)."""
    try:
        from tuf.api import exceptions
        from tuf.ngclient.updater import Updater
    except ImportError as exc:  # the optional dependency is missing
        raise ConfigError(
            "refreshing a trusted root needs python-tuf: pip install 'sigwebhook[tuf]'"
        ) from exc
    base = mirror.rstrip("/") + "/"
    with tempfile.TemporaryDirectory(prefix="sigwebhook-tuf-") as tmp:
        targets_dir = Path(tmp) / "targets"
        targets_dir.mkdir()
        try:
            updater = Updater(tmp, base, str(targets_dir), base + "targets/", bootstrap=tuf_root)
            updater.refresh()
            info = updater.get_targetinfo(target)
            if info is None:
                raise TrustUpdateError(f"the TUF repository at {mirror} has no target {target!r}")
            if info.length > MAX_ROOT_BYTES:
                raise TrustUpdateError(f"TUF target {target!r} is larger than {MAX_ROOT_BYTES} bytes")
            try:
                data = Path(updater.download_target(info)).read_bytes()
            except exceptions.LengthOrHashMismatchError as exc:
                raise TrustUpdateError(
                    f"TUF target {target!r} from {mirror} is not the file its signed metadata lists: "
                    f"{_reason(exc)}"
                ) from exc
        except exceptions.DownloadError as exc:
            raise TrustUpdateError(f"cannot download from the TUF mirror {mirror}: {exc}") from exc
        except exceptions.RepositoryError as exc:
            raise TrustUpdateError(f"TUF metadata from {mirror} does not verify: {_reason(exc)}") from exc
        except (ValueError, OSError) as exc:  # an unreadable bootstrap root, an unusable URL, the disk
            raise TrustUpdateError(f"cannot refresh from {mirror}: {_reason(exc)}") from exc
        versions = _verified_versions(Path(tmp))
    try:
        root = parse_trusted_root(data, target)
    except ConfigError as exc:
        raise TrustUpdateError(f"TUF target {target!r} is not a usable trusted root: {exc.reason}") from exc
    return RefreshedRoot(data, root, *versions)


def _verified_versions(metadata_dir: Path) -> tuple[int, int, datetime]:
    """What the client just verified and kept in its metadata directory: the TUF root and targets
    versions, and when the timestamp expires."""
    from tuf.api.metadata import Metadata

    def signed(role: str) -> Any:
        return Metadata.from_bytes((metadata_dir / f"{role}.json").read_bytes()).signed

    return signed("root").version, signed("targets").version, signed("timestamp").expires


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
