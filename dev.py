#!/usr/bin/env python3
"""Two commands for a fresh machine with Python 3.11 and nothing else.

    python3 dev.py run    install, migrate, start the embedded node, the projector
                          and the web server on http://127.0.0.1:8000/ (prints a demo login)
    python3 dev.py run --environments dev,staging,test
                          the same with an embedded node per environment, each in its
                          own data folder (DEV_RUN_ENVIRONMENTS does the same)
    python3 dev.py test   install, then run the whole test suite: pytest, the Node.js client
                          tests (tests/node, after `npm ci`), and a second pass of the
                          read-model tests on PostgreSQL when one is reachable

Everything goes into ./.venv, pinned by requirements/lock.txt. This file uses
only the standard library, since it runs before anything is installed.

`run` serves on DEV_RUN_ADDRESS (default 127.0.0.1:8000) and the node on
KURRENTDB_EMBEDDED_PORT (default 2113); with --environments, the nodes of staging, test
and mainnet on the next ports (2114, 2115, 2116), their events under
DATA_DIR/nodes/<env>/ (dev's stays in KURRENTDB_EMBEDDED_DB). An environment given a
KURRENTDB_<ENV>_URL keeps it and gets no node. A node that exits is started again after
DEV_RUN_RESTART_DELAY seconds (default 10, long enough to watch its card go down);
Ctrl-C, SIGTERM or a closed terminal (SIGHUP) stops every process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / ".penguinpool-installed"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
# The tests that exercise the read model, projector and search, run again on PostgreSQL.
POSTGRES_TESTS = "readmodel"
ENVIRONMENTS = ("dev", "staging", "test", "mainnet")


def _say(message: str) -> None:
    print(f"==> {message}", flush=True)


def _install() -> None:
    """Create .venv and install pinned packages; skipped when nothing changed."""
    wanted = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + (ROOT / "requirements" / "lock.txt").read_bytes()
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not PY.exists():
        _say("creating .venv")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    _say("installing pinned packages into .venv (first run takes a minute)")
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-c", "requirements/lock.txt", "-e", ".[dev]"], check=True, cwd=ROOT)
    STAMP.write_text(wanted)


def _manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(PY), "manage.py", *args], check=True, cwd=ROOT, env=env)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)  # unwinds through run()'s finally, which stops the children


def _environments(argv: list[str], env: dict[str, str]) -> list[str]:
    """The environments to run a node for: --environments a,b (or DEV_RUN_ENVIRONMENTS),
    default dev alone; dev is always one of them."""
    given = env.get("DEV_RUN_ENVIRONMENTS", "dev")
    for index, arg in enumerate(argv):
        if arg.startswith("--environments="):
            given = arg.split("=", 1)[1]
        elif arg == "--environments" and index + 1 < len(argv):
            given = argv[index + 1]
        elif arg.startswith("-") and arg != "--environments":
            raise SystemExit(f"dev.py run: unknown option {arg} (try --environments dev,staging)")
    names = [name.strip().lower() for name in given.split(",") if name.strip()]
    unknown = [name for name in names if name not in ENVIRONMENTS]
    if unknown:
        raise SystemExit(
            f"dev.py run: no environment named {', '.join(unknown)}: use {', '.join(ENVIRONMENTS)}"
        )
    return ["dev", *[name for name in ENVIRONMENTS if name in names and name != "dev"]]


class _Node:
    """One environment's embedded node, started again whenever it exits."""

    def __init__(self, name: str, port: int, db: str | None, env: dict[str, str]) -> None:
        self.name, self.port, self.env = name, port, env
        self.argv = [str(PY), "manage.py", "kurrent_node", "--port", str(port)]
        if db is not None:
            self.argv += ["--db", db]
        self.process: subprocess.Popen[bytes] | None = None
        self.restart_at: float | None = None

    def start(self) -> subprocess.Popen[bytes]:
        self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env)
        self.restart_at = None
        _say(f"the {self.name} node: port {self.port}, pid {self.process.pid}")
        return self.process

    def watch(self, delay: float) -> None:
        """Say so when the node has exited, and start it again `delay` seconds later."""
        if self.process is None:
            return
        if self.restart_at is None and self.process.poll() is not None:
            code = self.process.returncode
            _say(
                f"the {self.name} node (port {self.port}) exited with code {code}; "
                f"starting it again in {delay:g} s (the web server and projector keep running)"
            )
            self.restart_at = time.monotonic() + delay
        elif self.restart_at is not None and time.monotonic() >= self.restart_at:
            _say(f"starting the {self.name} node again on port {self.port}")
            self.start()


def run(argv: list[str] | None = None) -> int:
    # Without these, `kill` or closing the terminal ended this process alone and left
    # the node, the projector and the web server running, holding their ports.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    env = {**os.environ}
    names = _environments(argv or [], env)
    _install()
    env.setdefault("DEBUG", "true")  # development: demo login, runserver, no secret needed
    address = env.get("DEV_RUN_ADDRESS", "127.0.0.1:8000")
    delay = float(env.get("DEV_RUN_RESTART_DELAY", "10"))
    nodes = _plan_nodes(names, env)
    _manage("migrate", "--no-input", "-v", "0", env=env)
    _manage("kurrent_demo_user", env=env)
    children: list[subprocess.Popen[bytes]] = []
    try:
        for node in nodes:
            _say(
                f"starting the embedded KurrentDB-compatible node of {node.name} (port {node.port})"
            )
            node.start()
        for node in nodes:
            _wait_for_node(env, node.port)
        _say(f"starting the projector (live: {', '.join(names)})")
        children.append(
            subprocess.Popen(
                [str(PY), "manage.py", "kurrent_projector", "--live"], cwd=ROOT, env=env
            )
        )
        _say(f"starting the web server on http://{address}/  (Ctrl-C stops everything)")
        web = subprocess.Popen(
            [str(PY), "manage.py", "runserver", address, "--noreload"], cwd=ROOT, env=env
        )
        children.append(web)
        while all(child.poll() is None for child in children):
            for node in nodes:
                node.watch(delay)
            time.sleep(0.5)
        failed = [child for child in children if child.returncode not in (None, 0)]
        return 1 if failed else 0
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut this short
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        everything = [*children, *(n.process for n in nodes if n.process is not None)]
        for child in everything:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in everything:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def _plan_nodes(names: list[str], env: dict[str, str]) -> list[_Node]:
    """A node per named environment without a URL of its own; their URLs go into `env`."""
    base = int(env.get("KURRENTDB_EMBEDDED_PORT", "2113"))
    data = Path(env.get("DATA_DIR", str(ROOT / "var")))
    nodes = []
    for offset, name in enumerate(ENVIRONMENTS):
        if name not in names:
            continue
        variable = f"KURRENTDB_{name.upper()}_URL"
        if env.get(variable):
            _say(f"{name} uses {variable} (no embedded node for it)")
            continue
        port = base + offset
        if name == "dev":  # the embedded node the settings point dev at without a URL
            nodes.append(_Node(name, port, None, env))
            continue
        folder = data / "nodes" / name
        folder.mkdir(parents=True, exist_ok=True)
        env[variable] = f"kurrentdb://127.0.0.1:{port}?Tls=false"
        nodes.append(_Node(name, port, str(folder / "events.sqlite3"), env))
    return nodes


def _wait_for_node(env: dict[str, str], port: int) -> None:
    host = env.get("KURRENTDB_EMBEDDED_HOST", "127.0.0.1")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the embedded node did not start on {host}:{port} within 30 s")


def _postgres_reachable() -> bool:
    url = urlparse(POSTGRES_URL)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def test(extra: list[str]) -> int:
    _install()
    env = {**os.environ}
    env.pop("DATABASE_URL", None)
    _say("running the test suite (SQLite)")
    code = subprocess.run([str(PY), "-m", "pytest", *extra], cwd=ROOT, env=env).returncode
    if code != 0 or extra:
        return code
    code = _node_client_tests(env)
    if code != 0:
        return code
    if not _postgres_reachable():
        if os.environ.get("CI"):
            _say(f"PostgreSQL at {POSTGRES_URL} is not reachable, and CI requires it")
            return 1
        _say(f"SKIPPED the PostgreSQL pass: nothing listens at {POSTGRES_URL}")
        return 0
    _say("running the read-model, projector and search tests on PostgreSQL")
    env["DATABASE_URL"] = POSTGRES_URL
    return subprocess.run(
        [str(PY), "-m", "pytest", "-m", POSTGRES_TESTS], cwd=ROOT, env=env
    ).returncode


NODE_TESTS = ROOT / "tests" / "node"


def _node_client_tests(env: dict[str, str]) -> int:
    """The embedded node driven by KurrentDB's Node.js client (`node --test tests/node/`),
    after `npm ci` whenever node_modules is missing or older than package-lock.json."""
    if not all(shutil.which(tool) for tool in ("node", "npm")):
        _say("node and npm are needed for the Node.js client tests (tests/node), and missing")
        return 1
    lock = NODE_TESTS / "package-lock.json"
    stamp = NODE_TESTS / "node_modules" / ".penguinpool-installed"
    wanted = hashlib.sha256(lock.read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != wanted:
        _say("installing the Node.js client tests' packages (npm ci)")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], check=True, cwd=NODE_TESTS, env=env
        )
        stamp.write_text(wanted)
    _say("running the Node.js client tests against the embedded node")
    node_env = {**env, "KURRENT_PYTHON": str(PY)}
    return subprocess.run(["node", "--test", "tests/node/"], cwd=ROOT, env=node_env).returncode


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in {"run", "test", "install"}:
        print(__doc__)
        return 2
    if argv[1] == "run":
        return run(argv[2:])
    if argv[1] == "install":
        _install()
        return 0
    return test(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
