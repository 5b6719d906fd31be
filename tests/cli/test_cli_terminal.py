"""The CLI on a real terminal (a pseudo-terminal): password prompts and the overwrite question."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from app.signing.keyfiles import read_private_key
from tests.fixtures.signing import REPO_ROOT, cli_env


class Terminal:
    """`python -m app ARGS` with stdin/stdout/stderr on a pseudo-terminal; answer prompts as they come."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self._master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=cli_env({"PYTHONPATH": str(REPO_ROOT)}),
            start_new_session=True,
        )
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"never saw {text!r}; terminal shows {self.seen!r}"
            ready, _, _ = select.select([self._master], [], [], remaining)
            if ready:
                try:
                    self.seen += os.read(self._master, 4096).decode(errors="replace")
                except OSError:  # the child closed the terminal
                    assert text in self.seen, f"never saw {text!r}; terminal shows {self.seen!r}"

    def type(self, line: str) -> None:
        os.write(self._master, (line + "\n").encode())

    def finish(self, timeout: float = 30.0) -> int:
        code = self.process.wait(timeout=timeout)
        try:
            while select.select([self._master], [], [], 0.1)[0]:
                self.seen += os.read(self._master, 4096).decode(errors="replace")
        except OSError:
            pass
        os.close(self._master)
        return code


def test_generate_key_pair_asks_for_the_password_twice_without_echo(tmp_path: Path) -> None:
    terminal = Terminal("generate-key-pair", cwd=tmp_path)
    terminal.expect("Enter password for the new key cosign.key: ")
    terminal.type("typed secret")
    terminal.expect("again: ")
    terminal.type("typed secret")
    assert terminal.finish() == 0, terminal.seen
    assert "typed secret" not in terminal.seen  # getpass turned echo off
    read_private_key((tmp_path / "cosign.key").read_bytes(), "cosign.key", lambda: b"typed secret")


def test_mismatched_passwords_write_nothing(tmp_path: Path) -> None:
    terminal = Terminal("generate-key-pair", cwd=tmp_path)
    terminal.expect("cosign.key: ")
    terminal.type("one")
    terminal.expect("again: ")
    terminal.type("two")
    assert terminal.finish() == 2
    assert "the passwords do not match" in terminal.seen
    assert not (tmp_path / "cosign.key").exists()


def test_existing_keys_are_kept_unless_the_user_says_yes(tmp_path: Path) -> None:
    (tmp_path / "cosign.key").write_text("precious")
    terminal = Terminal("generate-key-pair", cwd=tmp_path)
    terminal.expect("Overwrite (y/[n])? ")
    terminal.type("")
    assert terminal.finish() == 1
    assert (tmp_path / "cosign.key").read_text() == "precious"
