"""WSGI entry point (gunicorn penguinpool.wsgi)."""

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
