"""A real site for end-to-end tests and benches: gunicorn in a subprocess, and a small
HTTP client with cookies and CSRF (the standard library only; loopback only).

    site = Site(tmp_path, kurrentdb_url=node.url)      # settings as environment variables
    site.manage("migrate", "--no-input")
    site.add_user("ann", "pw", role="editor")
    with site.gunicorn(workers=2) as server:
        browser = Browser(server.base_url)
        browser.login("ann", "pw")
        response = browser.get("/kurrent-db-demo/")
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
SECRET_KEY = "live-test-secret-key-" + "x" * 40  # 61 characters, for this test site only


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, process: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


class Site:
    """Settings of one test site (a data folder, a database file, static files), as the
    environment variables a deployment would set, DEBUG off."""

    def __init__(self, folder: Path, *, kurrentdb_url: str = "", **extra: str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTEST_", "DJANGO_", "KURRENTDB_", "SECURE_", "DATABASE_"))
        }
        env.update(
            {
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
                "DJANGO_SETTINGS_MODULE": "penguinpool.settings",
                "DEBUG": "false",
                "SECRET_KEY": SECRET_KEY,
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DATA_DIR": str(self.folder),
                "DATABASE_URL": f"sqlite:///{self.folder / 'site.sqlite3'}",
                "STATIC_ROOT": str(self.folder / "static"),
                # Plain HTTP on loopback: cookies may not be marked Secure here.
                "SESSION_COOKIE_SECURE": "false",
                "CSRF_COOKIE_SECURE": "false",
                "KURRENTDB_ENVIRONMENT": "dev",
                "KURRENTDB_DEV_URL": kurrentdb_url,
                "KURRENTDB_TIMEOUT": "2000",
                "KURRENTDB_MAX_RETRIES": "1",
                "KURRENTDB_SYNC_INTERVAL": "500",
                "LOG_LEVEL": "WARNING",
            }
        )
        env.update(extra)
        self.env = env

    def manage(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout + result.stderr

    def python(self, code: str, *, timeout: float = 120) -> str:
        """Run Python with Django set up against this site; returns its standard output."""
        prelude = "import django; django.setup()\n"
        result = subprocess.run(
            [PYTHON, "-c", prelude + code],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"site script failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def add_users(self, users: dict[str, str], password: str) -> None:
        """{username: role} with one password; roles are the groups viewer/editor/admin."""
        self.python(
            "from django.contrib.auth.models import Group, User\n"
            f"for name, role in {users!r}.items():\n"
            f"    user = User.objects.create_user(name, password={password!r})\n"
            "    user.groups.add(Group.objects.get(name=role))\n"
        )

    @contextlib.contextmanager
    def gunicorn(
        self,
        *,
        workers: int = 2,
        threads: int = 1,
        port: int | None = None,
        timeout: float = 60,
        reuse_port: bool = False,
    ) -> Iterator[Server]:
        port = port or free_port()
        args = [
            GUNICORN,
            "penguinpool.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--graceful-timeout",
            "5",
            "--timeout",
            "60",
        ]
        if threads > 1:
            args += ["--worker-class", "gthread", "--threads", str(threads)]
        if reuse_port:
            args.append("--reuse-port")  # a socket per worker, as the README's command
        server = Server(subprocess.Popen(args, cwd=ROOT, env=self.env, **_pipes()), port)
        server.start_pump()
        try:
            wait_for_port(port, timeout, server.process)
            yield server
        finally:
            server.stop()

    @contextlib.contextmanager
    def process(self, code: str, name: str = "script") -> Iterator[Server]:
        """Python code with Django set up, in the background (e.g. a live projector)."""
        prelude = "import django; django.setup()\n"
        child = subprocess.Popen([PYTHON, "-c", prelude + code], cwd=ROOT, env=self.env, **_pipes())
        server = Server(child, 0, name=name)
        server.start_pump()
        try:
            yield server
        finally:
            server.stop()


def _pipes() -> dict[str, Any]:
    return {
        "stdout": subprocess.PIPE,
        "stderr": subprocess.STDOUT,
        "text": True,
        "start_new_session": True,  # its own process group: stop() ends its workers too
    }


class Server:
    """A child process, its output kept (the last 400 lines) for failure messages."""

    def __init__(self, process: subprocess.Popen[str], port: int, name: str = "gunicorn") -> None:
        self.process = process
        self.port = port
        self.name = name
        self.output: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_pump(self) -> None:
        def pump() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line.rstrip("\n"))
                del self.output[:-400]

        threading.Thread(target=pump, daemon=True).start()

    def log(self) -> str:
        return "\n".join(self.output[-60:])

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL the process group, as a crash."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


FIELD = re.compile(r'<input[^>]*name="(?P<name>[^"]+)"[^>]*value="(?P<value>[^"]*)"')


class Browser:
    """One user's cookies against one server; no redirects followed unless asked."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        sent = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request(method, path, body=body, headers=sent)
            raw = conn.getresponse()
            response = Response(raw.status, raw.headers, raw.read())
        finally:
            conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        return self.request("GET", path, headers=headers)

    def follow(self, path: str, limit: int = 5) -> Response:
        response = self.get(path)
        while response.status in (301, 302, 303) and limit:
            response, limit = self.get(_path_of(response.location)), limit - 1
        return response

    def post(
        self, path: str, data: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Response:
        fields = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **data}
        body = urlencode(fields, doseq=True).encode()
        sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", path, body=body, headers=sent)

    def login(self, username: str, password: str) -> None:
        self.get("/accounts/login/")  # the CSRF cookie
        response = self.post("/accounts/login/", {"username": username, "password": password})
        if response.status != 302 or "sessionid" not in self.cookies:
            raise AssertionError(f"login of {username} failed: {response.status}")


def form_fields(html: str) -> dict[str, str]:
    """name -> value of the <input> fields of a page (hidden ones included)."""
    return {m["name"]: m["value"] for m in FIELD.finditer(html)}


def _path_of(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")
