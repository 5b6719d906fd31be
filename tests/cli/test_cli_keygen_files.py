"""`keygen` writes the private key file private from its first byte, even over an existing file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app.cli import keygen
from app.core.errors import SigningError


def test_a_private_key_written_over_a_world_readable_file_is_private_before_any_byte_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cosign.key"
    path.write_bytes(b"old")
    path.chmod(0o644)
    modes: list[int] = []
    real_fdopen = os.fdopen

    def fdopen_and_look(fd: int, *args: object, **kwargs: object) -> object:
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))  # the mode when the key is about to be written
        return real_fdopen(fd, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(keygen.os, "fdopen", fdopen_and_look)
    keygen._write(path, b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----", 0o600)
    assert modes == [0o600]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_key_file_that_cannot_be_written_is_a_signing_error(tmp_path: Path) -> None:
    with pytest.raises(SigningError, match="cannot write"):
        keygen._write(tmp_path / "missing" / "cosign.key", b"x", 0o600)
