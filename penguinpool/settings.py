"""Django settings: every value comes from the environment or `.env` (django-environ).

A missing or malformed variable stops start-up with one message naming it
(`penguinpool.envcheck.ConfigError`), never a traceback from deep inside.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from csp import constants as csp

from penguinpool.envcheck import EnvReader

BASE_DIR = Path(__file__).resolve().parent.parent
env = EnvReader(BASE_DIR / ".env")

# --- core -------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
# No default secret outside DEBUG: production must set SECRET_KEY. pytest (which sets
# PYTEST_VERSION) loads settings before any conftest, so a test run gets a throwaway key.
_UNDER_PYTEST = bool(os.environ.get("PYTEST_VERSION"))
# Commands that sign nothing (no session, cookie or token) also run without one, so the
# README's commands work on a fresh clone: they get a random key for this process only,
# never written anywhere. Serving (runserver, gunicorn, any WSGI/ASGI) and `check` still
# stop without SECRET_KEY.
UNSIGNED_COMMANDS = frozenset(
    {
        "migrate",
        "showmigrations",
        "makemigrations",
        "collectstatic",
        "createsuperuser",
        "changepassword",
        "kurrent_status",
        "kurrent_seed",
        "kurrent_export",
        "kurrent_import",
        "kurrent_node",
        "kurrent_projector",
        "kurrent_rebuild",
    }
)
_COMMAND = sys.argv[1] if len(sys.argv) > 1 and Path(sys.argv[0]).name == "manage.py" else ""
if DEBUG or _UNDER_PYTEST:
    _SECRET_DEFAULT: str | None = "django-insecure-dev-only-key"  # noqa: S105 (DEBUG only)
elif _COMMAND in UNSIGNED_COMMANDS:
    _SECRET_DEFAULT = "unsigned-command-" + secrets.token_urlsafe(50)
else:
    _SECRET_DEFAULT = None
SECRET_KEY = env.secret("SECRET_KEY", debug_default=_SECRET_DEFAULT)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var")))
# The SQLite read model and the embedded node live here; a fresh clone has no such folder yet.
DATA_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "kurrent",
    "kurrent.api",
    "accounts",
    "ninja",  # only for its templates and static files: the API docs page (swagger-ui)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "kurrent.ops.endpoints.HealthMiddleware",  # /kurrent/health, before everything a probe needs not
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy: CONTENT_SECURITY_POLICY below
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "kurrent.api.problems.api_errors_middleware",  # /api/v1/: every 404 and 405 is problem+json
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "kurrent.web.http.private_cache_middleware",  # signed-in answers: Cache-Control: private
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "kurrent.web.failures.KurrentFailureMiddleware",  # KurrentDB failures: 502/503, not 500
]

ROOT_URLCONF = "penguinpool.urls"
WSGI_APPLICATION = "penguinpool.wsgi.application"
ASGI_APPLICATION = "penguinpool.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # The web layer's template tags live in kurrent/web/, not in a templatetags app folder.
            "libraries": {"kurrent_extras": "kurrent.web.templatetags"},
        },
    }
]

# --- database: SQLite by default, PostgreSQL via DATABASE_URL -----------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'penguinpool.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the live projector write while web requests read.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
# Reuse a database connection across requests (opening one, and its PRAGMAs, cost more than a
# small page); CONN_HEALTH_CHECKS replaces a connection that went bad in between.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth ---------------------------------------------------------------------
AUTHENTICATION_BACKENDS = ["accounts.backends.CachedModelBackend"]
if _UNDER_PYTEST:
    # Test users sign in hundreds of times; a slow hash there only costs time.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Sessions are read from this process's memory cache and written through to the database, so
# every process still sees every session (cached_db), without a query per request.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "kurrent-dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- i18n, static -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "staticfiles")))
if DEBUG or _UNDER_PYTEST:
    # WhiteNoise warns about a missing STATIC_ROOT; before collectstatic it serves from the finders.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# The manifest needs collectstatic first; development and test runs serve files as they are.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (DEBUG or _UNDER_PYTEST)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- security (production values when DEBUG is off) ---------------------------
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Load balancers probe /kurrent/health over plain HTTP; a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^kurrent/health$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Only our own scripts, styles and images: no inline <script>, on* handler or style
# attribute, no eval (htmx's trigger filters and indicator <style> are off, see
# templates/base.html), nothing from another origin (django-csp; Django 6 has its own).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    }
}

# --- KurrentDB ----------------------------------------------------------------
KURRENTDB_ENVIRONMENTS = ("dev", "staging", "test", "mainnet")
KURRENTDB_ENABLED = env.bool("KURRENTDB_ENABLED", default=True)
KURRENTDB_ENVIRONMENT = env.choice(
    "KURRENTDB_ENVIRONMENT", choices=KURRENTDB_ENVIRONMENTS, default="dev"
)
KURRENTDB_SYNC_INTERVAL_MS = env.int("KURRENTDB_SYNC_INTERVAL", default=5000, minimum=100)
KURRENTDB_MAX_RETRIES = env.int("KURRENTDB_MAX_RETRIES", default=5, minimum=0)
KURRENTDB_TIMEOUT_MS = env.int("KURRENTDB_TIMEOUT", default=5000, minimum=50)
KURRENTDB_MAX_CONCURRENT_STREAMS = env.int(
    "KURRENTDB_MAX_CONCURRENT_STREAMS", default=16, minimum=1
)
# Per environment X: KURRENTDB_X_URL, _USERNAME, _PASSWORD, _CA_FILE (validated in kurrent.connection.config).
KURRENTDB_PROFILES = {
    name: {
        "url": env.str(f"KURRENTDB_{name.upper()}_URL", default=""),
        "username": env.str(f"KURRENTDB_{name.upper()}_USERNAME", default=""),
        "password": env.str(f"KURRENTDB_{name.upper()}_PASSWORD", default=""),
        "ca_file": env.str(f"KURRENTDB_{name.upper()}_CA_FILE", default=""),
    }
    for name in KURRENTDB_ENVIRONMENTS
}
# The embedded node that serves `dev` when KURRENTDB_DEV_URL is empty.
KURRENTDB_EMBEDDED_HOST = env.str("KURRENTDB_EMBEDDED_HOST", default="127.0.0.1")
KURRENTDB_EMBEDDED_PORT = env.int("KURRENTDB_EMBEDDED_PORT", default=2113, minimum=1, maximum=65535)
KURRENTDB_EMBEDDED_DB = env.str(
    "KURRENTDB_EMBEDDED_DB", default=str(DATA_DIR / "embedded-node.sqlite3")
)
# Bad connection settings stop start-up here, with one message naming the variable.
from kurrent.connection.config import check_profiles, embedded_url  # noqa: E402

check_profiles(KURRENTDB_PROFILES, embedded_url(KURRENTDB_EMBEDDED_HOST, KURRENTDB_EMBEDDED_PORT))
# Stream records: the largest `data` document accepted, in bytes of encoded JSON.
KURRENT_RECORD_MAX_DATA_BYTES = env.int(
    "KURRENT_RECORD_MAX_DATA_BYTES", default=256 * 1024, minimum=1024
)
# Bearer token guarding /metrics; empty: open in DEBUG, refused (403) otherwise (kurrent.ops.endpoints).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# The JSON API (kurrent.api): requests per token (or per signed-in user) and period, as
# django-ninja writes rates ("600/min", "20/s", "10000/hour"), counted in this Django cache
# (the default in-memory cache counts per process; name a shared one for several processes).
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="600/min")
API_RATE_LIMIT_CACHE = env.str("API_RATE_LIMIT_CACHE", default="default")
# Demo login created by `python dev.py run` (only when DEBUG).
DEMO_USERNAME = env.str("DEMO_USERNAME", default="demo")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "kurrent.ops.logs.ScrubbingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}
