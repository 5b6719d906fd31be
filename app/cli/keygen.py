"""`sigwebhook generate-key-pair [--output-key-prefix cosign] [--force]`: a new cosign key pair.

Writes `<prefix>.key` (ECDSA P-256 as `ENCRYPTED COSIGN PRIVATE KEY`, scrypt N=32768, mode 0600) and
`<prefix>.pub` (PEM SPKI), as `cosign generate-key-pair` does. The password comes from `COSIGN_PASSWORD`
or is asked twice on the terminal. Existing files are kept unless `--force`, or the user agrees at a
prompt; with no terminal the command refuses rather than overwrite a key silently.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.output import fingerprint_label
from app.cli.passwords import password_source
from app.cli.usage import EXIT_FAILED, EXIT_OK, UsageError
from app.core.errors import SigningError
from app.core.trust.secretkeys import is_secret_reference
from app.signing.keyfiles import encrypt_private_key, generate_ecdsa_key, public_key_of, public_key_pem


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register the `keygen` sub-command on `commands` (argparse sub-parsers)."""
    parser = commands.add_parser(
        "generate-key-pair",
        parents=parents,
        help="write a new ECDSA P-256 cosign key pair (<prefix>.key, <prefix>.pub)",
        description="Generate an ECDSA P-256 key pair in cosign's format. The private key is encrypted "
        "with the password from COSIGN_PASSWORD, or one asked twice on the terminal.",
    )
    parser.add_argument(
        "--output-key-prefix",
        default="cosign",
        metavar="PREFIX",
        help="write PREFIX.key and PREFIX.pub (default: cosign)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing key files")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, ask: Callable[[str], str] = input) -> int:
    """Run `keygen` with the parsed `args` (`ask` reads an answer from the user); the exit code."""
    prefix: str = args.output_key_prefix
    if is_secret_reference(prefix):
        raise UsageError("writing keys to a Kubernetes Secret is not supported by the CLI yet")
    private_path, public_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    existing = [p for p in (private_path, public_path) if p.exists()]
    if existing and not args.force:
        names = " and ".join(str(p) for p in existing)
        if not sys.stdin.isatty():
            raise UsageError(f"{names} already exist; refusing to overwrite without --force")
        if ask(f"{names} already exist. Overwrite (y/[n])? ").strip().lower() not in ("y", "yes"):
            print("Not overwriting the existing key pair.", file=sys.stderr)
            return EXIT_FAILED
    password = password_source(f"the new key {private_path}", confirm=True)()
    key = generate_ecdsa_key()
    _write(private_path, encrypt_private_key(key, password), 0o600)
    _write(public_path, public_key_pem(key), 0o644)
    fingerprint = fingerprint_label(public_key_of(key, public_path.name).fingerprint)
    print(f"Private key written to {private_path}")
    print(f"Public key written to {public_path} ({fingerprint})")
    return EXIT_OK


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` with `mode` from the start (the private key is never world-readable)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        # O_CREAT's mode does not apply to an existing file: set it before a byte of the key is written.
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise SigningError(f"cannot write {path}: {exc.strerror or exc}") from exc
