"""Settings of the HTTP bench: the app's own, plus a trivial view as the baseline."""

from penguinpool.settings import *  # noqa: F403

ROOT_URLCONF = "bench.site_urls"
