"""Where the CLI gets a key password: `COSIGN_PASSWORD`, else a terminal prompt (as cosign does).

With no terminal and no `COSIGN_PASSWORD` the CLI cannot ask, so it stops with a usage error (exit 2)
that says how to pass the password. The password is never logged or echoed.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Mapping

from app.cli.usage import UsageError
from app.signing.keyfiles import PasswordSource

PASSWORD_ENV = "COSIGN_PASSWORD"

Prompt = Callable[[str], str]


def password_source(
    purpose: str,
    *,
    confirm: bool = False,
    environ: Mapping[str, str] | None = None,
    interactive: bool | None = None,
    prompt: Prompt = getpass.getpass,
) -> PasswordSource:
    """A callable returning the password for `purpose` ("cosign.key", "the new key"), read lazily:
    a plain PEM key never asks. `confirm` asks twice (for a new key) and insists they match."""
    env = os.environ if environ is None else environ

    def read() -> bytes:
        if PASSWORD_ENV in env:
            return env[PASSWORD_ENV].encode()
        tty = sys.stdin.isatty() if interactive is None else interactive
        if not tty:
            raise UsageError(
                f"{purpose} needs a password but there is no terminal to ask on: set {PASSWORD_ENV} "
                f"(it may be empty: {PASSWORD_ENV}=)"
            )
        first = prompt(f"Enter password for {purpose}: ")
        if confirm and prompt(f"Enter password for {purpose} again: ") != first:
            raise UsageError("the passwords do not match")
        return first.encode()

    return read
