"""ASGI entry point: the app, and the process's health monitor (see wsgi.py)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinpool.settings")
application = get_asgi_application()

from kurrent.ops.monitor import monitor  # noqa: E402  (needs the app registry)

monitor.start()
