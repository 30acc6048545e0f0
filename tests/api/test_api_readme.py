"""The README's API examples, run as written (bash with curl, Python with httpx) against
gunicorn serving the app with DEBUG off and a real embedded node in its own process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from kurrent.embedded import NodeProcess
from tests.live import PYTHON, ROOT, Site

PASSWORD = "readme-example-password-1"


def api_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## JSON API")
    return text[start : text.index("\n## ", start + 1)]


def examples(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", api_section(), re.S)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme-site")
    node = NodeProcess(db=":memory:", port=0, insecure=True).start()
    try:
        site = Site(folder, kurrentdb_url=node.url)
        site.manage("migrate", "--no-input", "-v", "0")
        site.add_users({"ann": "editor"}, PASSWORD)
        secret = site.python(
            "from django.contrib.auth.models import User\n"
            "from kurrent.api.tokens import create_token\n"
            "made = create_token(User.objects.get(username='ann'), name='readme',"
            " scope='read-write')\n"
            "print(made.secret)\n"
        ).split()[-1]
        with site.gunicorn(workers=1, threads=4) as server:
            yield site, server, secret
    finally:
        node.stop()


def run(command: list[str], served, folder) -> subprocess.CompletedProcess[str]:
    _site, server, secret = served
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "API": server.base_url,
        "TOKEN": secret,
        "HOME": str(folder),
    }
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_the_readme_has_one_curl_and_one_python_example():
    assert len(examples("sh")) == 1
    assert len(examples("python")) == 1
    assert "curl" in examples("sh")[0] and "httpx" in examples("python")[0]


def test_the_curl_example_runs(served, tmp_path):
    if shutil.which("curl") is None:
        pytest.fail("curl is needed to run the README's example (apt-get install curl)")
    done = run(["bash", "-euo", "pipefail", "-c", examples("sh")[0]], served, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"username": "ann"' in done.stdout
    assert '"count": 4' in done.stdout  # the PATCH answered the changed record
    assert '"event_type": "StreamUpdated"' in done.stdout  # and its history shows it
    assert '"theme": "dark"' in done.stdout  # the user data read back by its address
    assert '"name": "dev"' in done.stdout  # the environments


def test_the_python_example_runs(served, tmp_path):
    done = run([PYTHON, "-c", examples("python")[0]], served, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 Gentoo count" in done.stdout  # the list, after the update to version 1
    site = served[0]
    stored = site.python(
        "from kurrent.models import StreamRecord\n"
        "row = StreamRecord.objects.get(name='Gentoo count')\n"
        "print(row.version, row.data['count'])\n"
    ).split()
    assert stored == ["1", "13"]
