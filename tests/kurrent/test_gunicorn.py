"""Production readiness: gunicorn + whitenoise with DEBUG off, and `check --deploy` clean
with the README's production settings."""

from __future__ import annotations

import re
import subprocess

import pytest

from kurrent.embedded import NodeProcess
from tests.live import PYTHON, ROOT, Browser, Site

# The production settings the README documents (values are examples).
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "-production-example-secret-" + "z" * 20,  # 67 characters
    "ALLOWED_HOSTS": "pool.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://pool.example.com",
    "BEHIND_TLS_PROXY": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "METRICS_TOKEN": "example-metrics-token-0123456789abcdef",
    "KURRENTDB_ENVIRONMENT": "mainnet",
    "KURRENTDB_MAINNET_URL": "kurrentdb://kurrentdb.internal:2113",
    "KURRENTDB_MAINNET_USERNAME": "pool-app",
    "KURRENTDB_MAINNET_PASSWORD": "example-password",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gunicorn-site")
    node = NodeProcess(db=":memory:", port=0, insecure=True).start()
    try:
        site = Site(folder, kurrentdb_url=node.url)
        site.manage("migrate", "--no-input", "-v", "0")
        site.manage("collectstatic", "--no-input", "-v", "0")
        # The README's command: gthread workers, a listening socket each.
        with site.gunicorn(workers=2, threads=4, reuse_port=True) as server:
            yield server
    finally:
        node.stop()


class TestGunicorn:
    def test_the_dashboard_sends_to_login_and_login_renders(self, site):
        browser = Browser(site.base_url)
        response = browser.get("/kurrent-db-demo/")
        assert response.status == 302, site.log()
        assert response.location.startswith("/accounts/login/?next=")
        login = browser.get(response.location)
        assert login.status == 200, site.log()
        assert 'name="csrfmiddlewaretoken"' in login.text
        assert login.headers["X-Frame-Options"] == "DENY"
        assert login.headers["X-Content-Type-Options"] == "nosniff"
        assert "csrftoken" in browser.cookies

    def test_static_files_come_from_whitenoise_with_hashed_names(self, site):
        login = Browser(site.base_url).get("/accounts/login/").text
        assets = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"', login)
        assert assets, "the login page links no static file"
        hashed = [a for a in assets if re.search(r"\.[0-9a-f]{12}\.(css|js)$", a)]
        assert hashed, f"no manifest-hashed file among {assets}"
        response = Browser(site.base_url).get(hashed[0])
        assert response.status == 200
        assert response.body
        assert "immutable" in response.headers["Cache-Control"]  # whitenoise, forever-cacheable
        gz = Browser(site.base_url).get(hashed[0], headers={"Accept-Encoding": "gzip"})
        assert gz.headers.get("Content-Encoding") == "gzip"

    def test_health_answers_for_the_load_balancer(self, site):
        response = Browser(site.base_url).get("/kurrent/health")
        assert response.status == 200, response.text
        assert '"state": "connected"' in response.text

    def test_debug_is_off(self, site):
        response = Browser(site.base_url).get("/no-such-page/")
        assert response.status == 404
        assert "Traceback" not in response.text
        assert "URLconf" not in response.text  # Django's technical 404 page

    def test_metrics_are_refused_without_a_token(self, site):
        assert Browser(site.base_url).get("/metrics").status == 403


def check_deploy(site: Site) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_production_settings(tmp_path):
    result = check_deploy(Site(tmp_path, **PRODUCTION))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_complains_without_them(tmp_path):
    """The test above can fail: the same check with HSTS and SSL redirect left out."""
    settings = {**PRODUCTION, "SECURE_SSL_REDIRECT": "false", "SECURE_HSTS_SECONDS": "0"}
    result = check_deploy(Site(tmp_path, **settings))
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout  # HSTS
    assert "security.W008" in result.stderr + result.stdout  # SSL redirect
