"""The log format: one line per message, whatever text from a review the message carries."""

from __future__ import annotations

import logging
import sys

from app.cli.options import OneLineFormatter


def _record(message: str, *args: object, exc_info: bool = False) -> logging.LogRecord:
    return logging.LogRecord(
        "sigwebhook.webhook",
        logging.WARNING,
        __file__,
        1,
        message,
        args,
        sys.exc_info() if exc_info else None,
    )


def test_a_newline_in_a_logged_uid_cannot_forge_a_second_log_line() -> None:
    formatter = OneLineFormatter("%(levelname)s %(name)s: %(message)s")
    text = formatter.format(_record("review %s: denied", "u1\nERROR sigwebhook.webhook: review u2: allowed"))
    assert text.splitlines() == [
        r"WARNING sigwebhook.webhook: review u1\nERROR sigwebhook.webhook: review u2: allowed: denied"
    ]


def test_terminal_escapes_and_unicode_line_separators_are_written_as_escapes() -> None:
    formatter = OneLineFormatter("%(message)s")
    assert formatter.format(_record("image %s", "x:1\x1b[2K\u2028y")) == r"image x:1\x1b[2K\u2028y"


def test_a_traceback_after_the_message_keeps_its_lines() -> None:
    formatter = OneLineFormatter("%(message)s")
    try:
        raise ValueError("boom")
    except ValueError:
        text = formatter.format(_record("failed", exc_info=True))
    assert text.startswith("failed\nTraceback (most recent call last):") and "ValueError: boom" in text
