"""A TUF repository made by the tests with python-tuf's Metadata API, laid out and served as Sigstore's is.

`TufRepository(directory)` has root, timestamp, snapshot and targets roles with one ECDSA key each, and
consistent snapshots (`N.snapshot.json`, `N.targets.json`, `<sha256>.<name>` targets, as
https://tuf-repo-cdn.sigstore.dev serves them). `publish(name, data)` adds or replaces a target and
signs new targets, snapshot and timestamp metadata; `rotate_root()` makes root version N+1 with a new
root key, signed by the old and the new key (so a client that trusts version N follows it);
`serve()` answers plain HTTP on 127.0.0.1 from the directory. Tamper with the files to make failures.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

UTC = datetime.UTC
ROLES = (Root.type, Timestamp.type, Snapshot.type, Targets.type)


class TufRepository:
    """A TUF repository on disk; `directory` is what the mirror serves (metadata at the top,
    targets under `targets/`)."""

    def __init__(self, directory: Path, expires_in: datetime.timedelta = datetime.timedelta(days=7)) -> None:
        self.directory = directory
        (directory / "targets").mkdir(parents=True, exist_ok=True)
        self.expires_in = expires_in
        self.signers = {role: CryptoSigner.generate_ecdsa() for role in ROLES}
        root = Root(expires=self._expiry(), consistent_snapshot=True)
        for role, signer in self.signers.items():
            root.add_key(signer.public_key, role)
        self.root: Metadata[Root] = Metadata(root)
        self.targets: Metadata[Targets] = Metadata(Targets(expires=self._expiry()))
        self.snapshot: Metadata[Snapshot] = Metadata(Snapshot(expires=self._expiry()))
        self.timestamp: Metadata[Timestamp] = Metadata(Timestamp(expires=self._expiry()))
        self._write_root([self.signers[Root.type]])

    @property
    def root_json(self) -> bytes:
        """The current root metadata: what a client bootstraps from."""
        return (self.directory / f"{self.root.signed.version}.root.json").read_bytes()

    def publish(self, name: str, data: bytes, expires: datetime.datetime | None = None) -> None:
        """Add or replace target `name` and sign new targets, snapshot and timestamp metadata
        (the timestamp expiring at `expires` when given)."""
        target = TargetFile.from_data(name, data, ["sha256"])
        (self.directory / "targets" / f"{hashlib.sha256(data).hexdigest()}.{name}").write_bytes(data)
        self.targets.signed.targets[name] = target
        self._bump(self.targets)
        self._write(self.targets, f"{self.targets.signed.version}.targets.json")
        self.snapshot.signed.meta["targets.json"] = MetaFile(version=self.targets.signed.version)
        self._bump(self.snapshot)
        self._write(self.snapshot, f"{self.snapshot.signed.version}.snapshot.json")
        self.timestamp.signed.snapshot_meta = MetaFile(version=self.snapshot.signed.version)
        self._bump(self.timestamp, expires)
        self._write(self.timestamp, "timestamp.json")

    def rotate_root(self) -> None:
        """Root version N+1 with a new root key, signed by both the old and the new root key."""
        old = self.signers[Root.type]
        new = CryptoSigner.generate_ecdsa()
        root = self.root.signed
        root.revoke_key(old.public_key.keyid, Root.type)
        root.add_key(new.public_key, Root.type)
        self.signers[Root.type] = new
        root.version += 1
        root.expires = self._expiry()
        self._write_root([old, new])

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Serve the directory over plain HTTP on 127.0.0.1; yields the mirror URL."""
        handler = functools.partial(_QuietHandler, directory=str(self.directory))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()

    def _expiry(self) -> datetime.datetime:
        return (datetime.datetime.now(UTC) + self.expires_in).replace(microsecond=0)

    def _bump(self, metadata: Metadata[Any], expires: datetime.datetime | None = None) -> None:
        metadata.signed.version += 1
        metadata.signed.expires = expires or self._expiry()
        metadata.signatures.clear()
        metadata.sign(self.signers[metadata.signed.type])

    def _write_root(self, signers: list[CryptoSigner]) -> None:
        self.root.signatures.clear()
        for signer in signers:
            self.root.sign(signer, append=True)
        self._write(self.root, f"{self.root.signed.version}.root.json")

    def _write(self, metadata: Metadata[Any], name: str) -> None:
        (self.directory / name).write_bytes(metadata.to_bytes(JSONSerializer(compact=False)))


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass
