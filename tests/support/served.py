"""`sigwebhook serve` as a real process for load and reliability work: its config, its audit lines,
its memory, its signals.

`ServedWebhook.start(config, tls, workdir)` writes the config (the `server` block filled in: 127.0.0.1,
a free port, the given certificate), starts `python -m app serve --config FILE` with stdout (the audit
stream) and stderr going to files (a pipe nobody reads would block the server under load), and waits
for `/healthz`. Used by the reliability tests and by `bench/load_bench.py`.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.certs import ServerTls
from tests.support.registry_server import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 30.0


@dataclass
class ServedWebhook:
    """A running `sigwebhook serve` process on 127.0.0.1:`port`."""

    process: subprocess.Popen[bytes]
    port: int
    ca_file: Path
    audit_file: Path
    log_file: Path

    @classmethod
    def start(cls, config: dict[str, Any], tls: ServerTls, workdir: Path) -> ServedWebhook:
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        data = dict(config)
        data["server"] = {
            **data.get("server", {}),
            "host": "127.0.0.1",
            "port": port,
            "tls": {"certFile": str(tls.cert_file), "keyFile": str(tls.key_file)},
        }
        path = workdir / "config.yaml"
        path.write_text(yaml.safe_dump(data))
        audit, log = workdir / "audit.jsonl", workdir / "serve.log"
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_CONFIG", "KUBECONFIG")}
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        with audit.open("wb") as out, log.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--config", str(path)],
                cwd=REPO_ROOT, env=env, stdout=out, stderr=err,
            )  # fmt: skip
        served = cls(process, port, tls.ca_file, audit, log)
        served._wait_started()
        return served

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
        """Status and JSON body of `GET path`."""
        try:
            with urllib.request.urlopen(
                f"{self.url}{path}", context=self.ssl_context(), timeout=timeout
            ) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def rss_mb(self) -> float:
        """Resident memory of the server process, in MiB (Linux `/proc`)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line")

    def open_connections(self) -> int:
        """TCP connections established to the server's port (from `/proc/net/tcp`)."""
        established, port_hex = "01", f"{self.port:04X}"
        count = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port_hex}") and fields[3] == established:
                count += 1
        return count

    def audit(self) -> list[dict[str, Any]]:
        """The audit records written so far."""
        text = self.audit_file.read_text(encoding="utf-8", errors="replace")
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def terminate(self) -> None:
        """SIGTERM, as the kubelet sends it."""
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def _wait_started(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                if self.get("/healthz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"serve did not answer /healthz within {START_SECONDS:g} s:\n{self.log()}")
