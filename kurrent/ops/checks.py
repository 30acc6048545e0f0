"""System checks for KurrentDB settings that are legal but probably a mistake."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from kurrent.connection.config import active_environment, all_profiles, var


def kurrentdb_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    profiles = all_profiles()
    for profile in profiles.values():
        if profile.is_production and profile.is_configured and not profile.tls:
            messages.append(
                checks.Warning(
                    f"{var(profile.name, 'URL')} connects without TLS (Tls=false).",
                    hint="Use TLS with a username and password for mainnet.",
                    id="kurrent.W001",
                )
            )
    active = profiles[active_environment()]
    if settings.KURRENTDB_ENABLED and not active.is_configured:
        messages.append(
            checks.Warning(
                f"The active environment {active.name} has no KurrentDB "
                f"({var(active.name, 'URL')} is empty).",
                hint="Set the URL, or pick another KURRENTDB_ENVIRONMENT.",
                id="kurrent.W002",
            )
        )
    return messages


def register() -> None:
    checks.register(kurrentdb_settings, "kurrent")
