"""`sigwebhook update-trusted-root --mirror URL --tuf-root FILE --output FILE`: a newer Sigstore trusted root
through TUF, for a cluster that has network where the admin runs it.

The webhook and `verify` never fetch trust material; an admin refreshes the file they read (a
`trustedRoots:` entry, the chart's ConfigMap, `--trusted-root`) with this command, after a key rotation
of the Sigstore instance. `--tuf-root` is the TUF root metadata the admin trusts to begin with (Sigstore
clients ship one; a private instance hands out its own): TUF follows every rotation from it
(`app.trust_updates`). The output is written only once everything verified and it reads as a trusted
root, atomically (a reader never sees half a file). Exit 0 when written, 1 when anything failed
(nothing written), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from app.cli.usage import EXIT_OK, UsageError
from app.core.errors import TrustUpdateError
from app.trust_files import read_file
from app.trust_updates import TRUSTED_ROOT_TARGET, fetch_trusted_root

MAX_TUF_ROOT_BYTES = 1 << 20


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register `update-trusted-root` on `commands` (argparse sub-parsers)."""
    parser = commands.add_parser(
        "update-trusted-root",
        parents=parents,
        help="fetch a Sigstore trusted root through TUF from a mirror and write it to a file",
        description="Download the trusted root (the TUF target trusted_root.json) from a Sigstore TUF "
        "mirror, verified by TUF from the TUF root you trust, and write it where sigwebhook reads "
        "trusted roots. Nothing on the admission path ever does this.",
    )
    parser.add_argument(
        "--mirror",
        required=True,
        metavar="URL",
        help="the TUF repository (e.g. https://tuf-repo-cdn.sigstore.dev)",
    )
    parser.add_argument(
        "--tuf-root",
        required=True,
        type=Path,
        metavar="FILE",
        help="the TUF root.json you trust for that repository (rotations from it are followed)",
    )
    parser.add_argument(
        "--output", required=True, type=Path, metavar="FILE", help="where to write the trusted root"
    )
    parser.add_argument(
        "--target",
        default=TRUSTED_ROOT_TARGET,
        metavar="NAME",
        help=f"the TUF target to fetch (default: {TRUSTED_ROOT_TARGET})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Fetch, verify and write; the exit code."""
    mirror: str = args.mirror
    if not mirror.startswith(("https://", "http://")):
        raise UsageError(f"--mirror must be an http(s) URL, not {mirror[:80]!r}")
    output: Path = args.output
    if output.is_dir():
        raise UsageError(f"--output {output} is a directory")
    bootstrap = read_file(args.tuf_root, MAX_TUF_ROOT_BYTES, "TUF root")
    refreshed = fetch_trusted_root(mirror, bootstrap, args.target)
    _write_atomically(output, refreshed.data)
    root = refreshed.root
    print(
        f"Trusted root written to {output} (sha256 {hashlib.sha256(refreshed.data).hexdigest()}): "
        f"{len(root.tlogs)} transparency logs, {len(root.certificate_authorities)} certificate authorities, "
        f"{len(root.ctlogs)} CT logs, {len(root.timestamp_authorities)} timestamp authorities"
    )
    print(
        f"Verified by TUF from {mirror}: root version {refreshed.tuf_root_version}, targets version "
        f"{refreshed.targets_version}, timestamp valid until {refreshed.expires:%Y-%m-%dT%H:%M:%SZ}"
    )
    return EXIT_OK


def _write_atomically(path: Path, data: bytes) -> None:
    """Write `data` beside `path`, then rename it over `path` (mode 0644: trust material is public)."""
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
        try:
            os.fchmod(descriptor, 0o644)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise TrustUpdateError(f"cannot write {path}: {exc.strerror or exc}") from exc
