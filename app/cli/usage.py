"""The CLI's exit codes and its one extra error: a usage mistake (exit 2, like argparse's own)."""

from __future__ import annotations

from app.core.errors import SigwebhookError

EXIT_OK = 0
EXIT_FAILED = 1  # not verified, or an operation failed (registry, key, signature)
EXIT_USAGE = 2  # the command line itself is wrong (argparse uses 2 too)


class UsageError(SigwebhookError):
    """The command line cannot be acted on: a bad option value, no way to ask for a password."""
