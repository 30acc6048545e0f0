"""NodeProcess: the node in a subprocess (`python -m kurrent.embedded`), for crash tests and benches."""

from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .server import DEFAULT_MAX_EVENT_BYTES, DEFAULT_USERS, client_host, connection_url

READY = re.compile(
    r"^KurrentDB-compatible node listening on (?P<host>.+):(?P<port>\d+) \((?P<mode>insecure|tls)\)$"
)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class NodeProcess:
    """Same arguments as EmbeddedNode; `start()` returns once the node printed its ready line."""

    def __init__(
        self,
        db: str = ":memory:",
        host: str = "127.0.0.1",
        port: int = 0,
        insecure: bool = True,
        users: dict[str, str] | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        data_dir: str | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        *,
        extra_args: list[str] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.db = str(db)
        self.host = host
        self.port = int(port)
        self.insecure = insecure
        self.users = dict(users) if users else dict(DEFAULT_USERS)  # as the node: no --user
        self._user_args = users
        self.cert_file = cert_file
        self.key_file = key_file
        self.data_dir = data_dir
        self.max_event_bytes = max_event_bytes
        self.extra_args = list(extra_args or [])
        self.start_timeout = start_timeout
        self.cert_path: str | None = None
        self.root_certificates: bytes | None = None
        self.output: list[str] = []
        self.popen: subprocess.Popen[str] | None = None

    def command(self) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "kurrent.embedded",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--db",
            self.db,
            "--max-event-bytes",
            str(self.max_event_bytes),
        ]
        if self.insecure:
            args.append("--insecure")
        for name, password in (self._user_args or {}).items():
            args += ["--user", f"{name}:{password}"]
        if self.cert_file and self.key_file:
            args += ["--cert", self.cert_file, "--key", self.key_file]
        if self.data_dir:
            args += ["--data-dir", self.data_dir]
        return args + self.extra_args

    def start(self) -> NodeProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])
        )
        self.popen = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        atexit.register(self.kill)  # never outlive the process that started it
        ready = threading.Event()
        self._listening = False
        threading.Thread(target=self._pump, args=(ready,), daemon=True).start()
        if not ready.wait(self.start_timeout) or not self._listening:
            self.kill()
            raise RuntimeError("the node did not start:\n" + "\n".join(self.output[-20:]))
        return self

    def _pump(self, ready: threading.Event) -> None:
        assert self.popen is not None and self.popen.stdout is not None
        for line in self.popen.stdout:
            line = line.rstrip("\n")
            self.output.append(line)
            del self.output[:-200]
            if line.startswith("TLS certificate: "):
                self.cert_path = line.split(": ", 1)[1]
                self.root_certificates = Path(self.cert_path).read_bytes()
            match = READY.match(line)
            if match and not ready.is_set():
                self.port = int(match["port"])
                self._listening = True
                ready.set()
        ready.set()  # the process ended (start() then reports its output)

    @property
    def url(self) -> str:
        host = client_host(self.host, insecure=self.insecure)
        return connection_url(host, self.port, insecure=self.insecure, users=self.users)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait; returns the exit code."""
        if self.popen is None:
            return None
        atexit.unregister(self.kill)
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        time.sleep(0)
