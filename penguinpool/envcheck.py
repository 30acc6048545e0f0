"""Typed reads of environment variables that fail with one clear message.

django-environ does the parsing; this wrapper turns its many failure modes
(ValueError deep inside, ImproperlyConfigured with a generic text) into a
`ConfigError` that names the variable and says what was expected. `manage.py`
and `wsgi.py` print that message alone and exit, instead of a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured


class ConfigError(ImproperlyConfigured):
    """A setting from the environment is missing or malformed."""


_UNSET: Any = object()


class EnvReader:
    def __init__(self, env_file: Path | None = None) -> None:
        self._env = environ.Env()
        if env_file is not None and env_file.is_file():
            # Real environment variables win over the file (overwrite=False).
            environ.Env.read_env(str(env_file), overwrite=False)

    def _raw(self, name: str) -> str | None:
        return os.environ.get(name)

    def _missing(self, name: str, what: str) -> ConfigError:
        return ConfigError(f"{name} is not set: {what}.")

    def str(self, name: str, default: Any = _UNSET) -> str:
        value = self._raw(name)
        if value is None:
            if default is _UNSET:
                raise self._missing(name, "a value is required")
            return default
        return value.strip()

    def secret(self, name: str, debug_default: str | None) -> str:
        value = self._raw(name)
        if value:
            return value
        if debug_default is not None:
            return debug_default
        raise self._missing(name, "required when DEBUG is off (no default secret in production)")

    def bool(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None or value.strip() == "":
            return default
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name}={value!r} is not a boolean: use true or false.")

    def int(
        self, name: str, default: int, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self._raw(name)
        if value is None or value.strip() == "":
            return default
        try:
            number = int(value.strip())
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not a whole number.") from None
        if minimum is not None and number < minimum:
            raise ConfigError(f"{name}={number} is too small: the minimum is {minimum}.")
        if maximum is not None and number > maximum:
            raise ConfigError(f"{name}={number} is too large: the maximum is {maximum}.")
        return number

    def list(self, name: str, default: list[str]) -> list[str]:
        value = self._raw(name)
        if value is None or value.strip() == "":
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: str, choices: Sequence[str], default: str) -> str:
        value = self.str(name, default=default).lower()
        if value not in choices:
            raise ConfigError(f"{name}={value!r} is not one of: {', '.join(choices)}.")
        return value

    def db(self, name: str, default: str) -> dict[str, Any]:
        value = self._raw(name) or default
        try:
            config = self._env.db_url_config(value)
        except (ImproperlyConfigured, ValueError, KeyError) as exc:
            raise ConfigError(f"{name} is not a valid database URL ({exc}).") from None
        if "." not in config.get("ENGINE", ""):  # django-environ passes unknown schemes through
            raise ConfigError(
                f"{name} has an unsupported database scheme: use sqlite:///path or postgres://..."
            )
        return config
