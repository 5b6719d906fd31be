"""`sigwebhook`: the command line (`verify`, `verify-bundle`, `sign`, `generate-key-pair`, `serve`,
`audit`, `update-trusted-root`, and the checks the chart runs on a release: `wait-ready`, `self-test`).

This module parses arguments and owns the one place where failures become exit codes and one line on
stderr: a `UsageError` (or an argparse error) exits 2, any other `SigwebhookError` exits 1, and anything
unexpected is reported as an internal error (exit 1) whose traceback only `--debug` shows. The commands
themselves live in their own modules (`COMMANDS`); objects are built by `app.compose`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence

from app.cli.options import add_logging_options, configure_logging
from app.cli.usage import EXIT_FAILED, EXIT_USAGE, UsageError
from app.core.errors import SigwebhookError

PROG = "sigwebhook"
log = logging.getLogger("sigwebhook.cli")


# Sub-command → its module, which has `add_parser(commands, parents)` and sets `run`. Modules are
# imported only when needed: `serve` pulls in FastAPI and uvicorn, which `verify` must not pay for.
COMMANDS = {
    "verify": "app.cli.verify",
    "verify-bundle": "app.cli.verify_bundle",
    "sign": "app.cli.sign",
    "generate-key-pair": "app.cli.keygen",
    "wait-ready": "app.cli.waitready",
    "self-test": "app.cli.selftest",
    "serve": "app.cli.serve",
    "audit": "app.cli.audit",
    "update-trusted-root": "app.cli.trustroot",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line: global logging flags, then one sub-command. With `command`, only that
    sub-command is built in full (the others are bare names, enough for argparse's choices)."""
    common = argparse.ArgumentParser(add_help=False)
    add_logging_options(common)
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Verify container images signed with cosign keys or keylessly (v2 .sig signatures "
        "and v3 sigstore bundles), their transparency-log proofs checked offline against a Sigstore "
        "trusted root; sign with keys (no log entry is written).",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        if command in (None, name):
            importlib.import_module(module).add_parser(commands, [common])
        else:
            commands.add_parser(name)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The sub-command named in `argv` (the first word that is not an option), if it is one we know."""
    first = next((word for word in argv if not word.startswith("-")), None)
    return first if first in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 failed / not verified, 2 usage error)."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_in(words))
    args = parser.parse_args(words)  # exits 2 with a usage message on a bad command line
    configure_logging(args)
    try:
        code: int = args.run(args)
        return code
    except UsageError as exc:
        _fail(exc.reason)
        return EXIT_USAGE
    except SigwebhookError as exc:
        log.debug("%s: %s", type(exc).__name__, exc.detail, exc_info=args.debug)
        _fail(exc.reason)
        return EXIT_FAILED
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except Exception as exc:  # the last line of defence: never a bare traceback for the user
        if args.debug:
            traceback.print_exc()
        _fail(f"internal error ({type(exc).__name__}); rerun with --debug to see the traceback")
        return EXIT_FAILED


def _fail(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)
