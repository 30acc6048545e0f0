"""Fault tests: a real node (NodeProcess on a fixed free port, a database file), the app
under gunicorn, clients over HTTP; loopback only, bounded in time.

`site_template` migrates one database, collects static files and creates the users
once per session; `fault_site` copies that database for one test.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kurrent.embedded import NodeProcess
from tests.live import Site, free_port

PASSWORD = "fault-tests-password-1"
ADMINS = [f"admin{n}" for n in range(1, 9)]
USERS = {"writer": "editor", "watcher": "viewer", **dict.fromkeys(ADMINS, "admin")}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fault/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.timeout(240))


@pytest.fixture(scope="session")
def site_template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fault-template")
    site = Site(folder, kurrentdb_url="kurrentdb://127.0.0.1:1?Tls=false")
    site.manage("migrate", "--no-input", "-v", "0")
    site.manage("collectstatic", "--no-input", "-v", "0")
    site.add_users(USERS, PASSWORD)
    return folder


class FaultSite:
    """One test's node and site, sharing the session's static files and users."""

    def __init__(self, folder: Path, template: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.node_db = folder / "node.sqlite3"
        self.db = folder / "site.sqlite3"
        shutil.copy(template / "site.sqlite3", self.db)
        self.node: NodeProcess | None = None
        self.site = Site(
            folder,
            kurrentdb_url=f"kurrentdb://127.0.0.1:{self.port}?Tls=false",
            STATIC_ROOT=str(template / "static"),
        )

    def start_node(self) -> NodeProcess:
        """The node on this test's fixed port and database file (again after a kill)."""
        self.node = NodeProcess(db=str(self.node_db), port=self.port, insecure=True).start()
        return self.node

    def query(self, sql: str, *params: Any) -> list[tuple]:
        """Read the site's database directly (read-only)."""
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=20)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


@pytest.fixture
def fault_site(site_template: Path, tmp_path: Path) -> Iterator[FaultSite]:
    site = FaultSite(tmp_path, site_template)
    try:
        yield site
    finally:
        if site.node is not None:
            site.node.kill()
