"""WSGI entry point (gunicorn penguinpool.wsgi, and runserver): the app, and the
process's health monitor (kurrent.ops.monitor), which keeps every environment's
readings fresh in the background so that no request waits for KurrentDB."""

import os
import sys

from django.core.wsgi import get_wsgi_application

from penguinpool.envcheck import ConfigError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinpool.settings")
try:
    application = get_wsgi_application()
except ConfigError as exc:
    sys.stderr.write(f"Configuration error: {exc}\n")
    raise SystemExit(2) from None

from kurrent.ops.monitor import monitor

monitor.start()
