"""Settings of the HTTP bench: the app's own, plus a trivial view as the baseline."""

import os

from penguinpool.settings import *  # noqa: F403
from penguinpool.settings import DATABASES

ROOT_URLCONF = "bench.site_urls"
# Experiments (not the app's defaults): persistent database connections.
if os.environ.get("BENCH_CONN_MAX_AGE"):
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ["BENCH_CONN_MAX_AGE"])
# Experiments: sessions read from a per-process cache before the database.
if os.environ.get("BENCH_SESSION_CACHE"):
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
