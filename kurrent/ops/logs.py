"""Log output that never shows a configured KurrentDB password.

The app's own messages use fixed words, but a traceback or a library's message may
repeat what it was given, a connection string included; the console formatter of
settings.LOGGING passes every formatted line through `connection.scrub`.
"""

from __future__ import annotations

import logging


class ScrubbingFormatter(logging.Formatter):
    """A logging.Formatter whose output has every configured password replaced by ***."""

    def format(self, record: logging.LogRecord) -> str:
        # Imported here: settings.LOGGING is configured before the apps are loaded.
        from kurrent.connection.clients import scrub

        return scrub(super().format(record))
