"""Environment profiles: the KurrentDB connection settings of dev, staging, test and mainnet.

Profiles are read from Django settings each time they are asked for, so tests that
override settings see their values (the connection manager caches them until
`connections.reset()`). An environment with no URL is "not configured", which is a
state, not an error; a malformed URL, half-set credentials or a missing CA file is a
`ConfigError` naming the variable, raised at start-up by `validate_all()`.

The password lives only in `Profile.password` (hidden from `repr`) and in the URL that
`client_url()` builds for the client. Everything meant for people uses `redacted_url()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from django.conf import settings
from kurrentdbclient.connection_spec import URI_SCHEMES_ALL, URI_SCHEMES_DISCOVER, ConnectionOptions

from penguinpool.envcheck import ConfigError

ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "test", "mainnet")
PRODUCTION = "mainnet"
SCHEMES: tuple[str, ...] = tuple(URI_SCHEMES_ALL)


def var(env: str, suffix: str) -> str:
    """The environment variable behind one setting, e.g. var("dev", "URL") -> KURRENTDB_DEV_URL."""
    return f"KURRENTDB_{env.upper()}_{suffix}"


@dataclass(frozen=True)
class Profile:
    """One environment's KurrentDB connection settings (already validated)."""

    name: str
    url: str  # the connection string without credentials; "" when not configured
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""
    timeout_s: float = 5.0
    max_retries: int = 5
    sync_interval_s: float = 5.0
    uses_embedded: bool = False

    @property
    def is_configured(self) -> bool:
        return bool(self.url)

    @property
    def is_production(self) -> bool:
        return self.name == PRODUCTION

    @property
    def tls(self) -> bool:
        """kurrentdbclient's default: TLS unless the URL says Tls=false."""
        if not self.url:
            return False
        return ConnectionOptions(urlsplit(self.url).query).tls

    @property
    def is_discover(self) -> bool:
        return self.is_configured and urlsplit(self.url).scheme in URI_SCHEMES_DISCOVER

    def redacted_url(self) -> str:
        """The connection string for people: credentials replaced by `***`, never shown."""
        if not self.url:
            return ""
        parts = urlsplit(self.url)
        userinfo = "***@" if (self.username or self.password) else ""
        query = f"?{parts.query}" if parts.query else ""
        return f"{parts.scheme}://{userinfo}{parts.netloc}{parts.path}{query}"

    def client_url(self) -> str:
        """The connection string for KurrentDBClient, credentials merged in. Secret."""
        if not self.url or not self.username:
            return self.url
        parts = urlsplit(self.url)
        auth = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@"
        query = f"?{parts.query}" if parts.query else ""
        return f"{parts.scheme}://{auth}{parts.netloc}{parts.path}{query}"

    def secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in output: the password, raw and URL-quoted."""
        if not self.password:
            return ()
        return tuple({self.password, quote(self.password, safe="")})


def embedded_url(host: str | None = None, port: int | None = None) -> str:
    """Where the embedded node listens for `dev` when KURRENTDB_DEV_URL is empty."""
    host = settings.KURRENTDB_EMBEDDED_HOST if host is None else host
    port = settings.KURRENTDB_EMBEDDED_PORT if port is None else port
    from kurrent.embedded.server import connection_url  # the node's own rule, IPv6 brackets too

    return connection_url(host, port, insecure=True, users={})


def active_environment() -> str:
    """The environment the app works on (KURRENTDB_ENVIRONMENT)."""
    return settings.KURRENTDB_ENVIRONMENT


def environments() -> tuple[str, ...]:
    return tuple(getattr(settings, "KURRENTDB_ENVIRONMENTS", ENVIRONMENTS))


def get_profile(name: str) -> Profile:
    """The validated profile of environment `name`.

    ConfigError if its settings are bad; ValueError if `name` is no environment."""
    if name not in environments():
        raise ValueError(
            f"unknown KurrentDB environment {name!r}: use one of {', '.join(environments())}"
        )
    url, username, password, ca_file, uses_embedded = _parse(
        name, settings.KURRENTDB_PROFILES.get(name, {}), embedded_url()
    )
    return Profile(
        name=name,
        url=url,
        username=username,
        password=password,
        ca_file=ca_file,
        timeout_s=settings.KURRENTDB_TIMEOUT_MS / 1000,
        max_retries=settings.KURRENTDB_MAX_RETRIES,
        sync_interval_s=settings.KURRENTDB_SYNC_INTERVAL_MS / 1000,
        uses_embedded=uses_embedded,
    )


def check_profiles(profiles: dict[str, dict[str, str]], embedded: str) -> None:
    """Validate raw profiles as settings.py builds them; settings.py calls this, so a bad
    connection setting stops start-up (even runserver's) with one message."""
    for name, raw in profiles.items():
        _parse(name, raw, embedded)


def _parse(name: str, raw: dict[str, str], embedded: str) -> tuple[str, str, str, str, bool]:
    """(url without credentials, username, password, CA file, uses the embedded node)."""
    url = str(raw.get("url", "") or "").strip()
    username = str(raw.get("username", "") or "").strip()
    password = str(raw.get("password", "") or "")
    ca_file = str(raw.get("ca_file", "") or "").strip()
    uses_embedded = False
    if not url and name == "dev":
        url, uses_embedded = embedded, True
    if url:
        url, username, password = _check_url(name, url, username, password)
        _check_ca_file(name, url, ca_file)
    elif username or password or ca_file:
        given = next(
            var(name, suffix)
            for suffix, value in (
                ("USERNAME", username),
                ("PASSWORD", password),
                ("CA_FILE", ca_file),
            )
            if value
        )
        raise ConfigError(f"{given} is set but {var(name, 'URL')} is empty: set the URL too.")
    return url, username, password, ca_file, uses_embedded


def all_profiles() -> dict[str, Profile]:
    """Every environment's profile, in the order dev, staging, test, mainnet."""
    return {name: get_profile(name) for name in environments()}


def validate_all() -> None:
    """Raise ConfigError on the first bad KurrentDB setting (run once at start-up)."""
    all_profiles()
    active = active_environment()
    if active not in environments():
        raise ConfigError(
            f"KURRENTDB_ENVIRONMENT={active!r} is not one of: {', '.join(environments())}."
        )


def _check_url(name: str, url: str, username: str, password: str) -> tuple[str, str, str]:
    """Validate a connection string; return it without credentials, and the credentials.

    Messages name the variable and never repeat the URL, which may hold a password.
    """
    variable = var(name, "URL")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConfigError(f"{variable} is not a valid URL (check the host and port).") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or "://" not in url:
        shown = f"{scheme}://" if scheme and "://" in url else "no scheme"
        raise ConfigError(
            f"{variable} has {shown}: use one of "
            + ", ".join(f"{s}://" for s in SCHEMES)
            + " (e.g. kurrentdb://host:2113?Tls=false)."
        )
    userinfo, _, netloc = parts.netloc.rpartition("@")
    targets = [t.strip() for t in netloc.split(",")]
    if not netloc or not all(targets):
        raise ConfigError(f"{variable} names no host (e.g. kurrentdb://host:2113).")
    for target in targets:
        host, port = _split_target(target)
        if not host:
            raise ConfigError(f"{variable} names no host (e.g. kurrentdb://host:2113).")
        if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
            raise ConfigError(f"{variable} has a port that is not a number from 1 to 65535.")
    if scheme in URI_SCHEMES_DISCOVER and len(targets) > 1:
        raise ConfigError(f"{variable}: {scheme}:// takes one host only, the cluster's DNS name.")
    if parts.path not in ("", "/"):
        raise ConfigError(
            f"{variable} has a path; a connection string has none (host:port?options)."
        )
    if parts.fragment:
        raise ConfigError(f"{variable} has a #fragment; remove it.")
    try:
        options = ConnectionOptions(parts.query)
    except ValueError as exc:
        raise ConfigError(f"{variable} has a bad option: {exc}.") from None

    if userinfo:
        if username or password:
            raise ConfigError(
                f"{variable} holds credentials and {var(name, 'USERNAME')}/{var(name, 'PASSWORD')} "
                "are set too: keep them in the USERNAME/PASSWORD variables only."
            )
        url_user, _, url_password = userinfo.partition(":")
        username, password = unquote(url_user), unquote(url_password)
    if username and not password:
        raise ConfigError(f"{var(name, 'PASSWORD')} is empty but {var(name, 'USERNAME')} is set.")
    if password and not username:
        raise ConfigError(f"{var(name, 'USERNAME')} is empty but {var(name, 'PASSWORD')} is set.")
    if options.tls and not username:
        raise ConfigError(
            f"{variable} uses TLS (the default unless ?Tls=false), which needs "
            f"{var(name, 'USERNAME')} and {var(name, 'PASSWORD')}."
        )
    if options.tls_ca_file and not Path(options.tls_ca_file).is_file():
        raise ConfigError(f"{variable}: the TlsCaFile it names does not exist.")
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{query}", username, password


def _split_target(target: str) -> tuple[str, str | None]:
    """host[:port] or [ipv6][:port] -> (host, port or None)."""
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else (rest or None)
    host, colon, port = target.partition(":")
    return host, port if colon else None


def _check_ca_file(name: str, url: str, ca_file: str) -> None:
    if not ca_file:
        return
    path = Path(ca_file)
    if not path.is_file():
        raise ConfigError(f"{var(name, 'CA_FILE')}={ca_file} does not exist or is not a file.")
    try:
        path.read_bytes()
    except OSError:
        raise ConfigError(f"{var(name, 'CA_FILE')}={ca_file} cannot be read.") from None
