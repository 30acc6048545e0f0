"""Environment profiles (kurrent.connection.config) and the typed env reader (penguinpool.envcheck)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from kurrent.connection import config
from kurrent.connection.config import Profile, get_profile
from penguinpool.envcheck import ConfigError, EnvReader
from tests.conftest import point_env_at

SECRET = "Sup3r:s3cret@/?#pw"  # characters that break a naive URL


def configure(settings: Any, env: str, **profile: str) -> None:
    url = profile.pop("url", "")
    point_env_at(settings, env, url, **profile)


# --- profiles ----------------------------------------------------------------------


@pytest.mark.parametrize("env", ["staging", "test", "mainnet"])
def test_an_environment_without_url_is_not_configured(settings: Any, env: str) -> None:
    configure(settings, env)
    profile = get_profile(env)
    assert not profile.is_configured
    assert profile.url == ""
    assert profile.redacted_url() == ""
    assert not profile.uses_embedded


def test_dev_without_url_uses_the_embedded_node(settings: Any) -> None:
    configure(settings, "dev")
    settings.KURRENTDB_EMBEDDED_HOST = "127.0.0.1"
    settings.KURRENTDB_EMBEDDED_PORT = 2999
    profile = get_profile("dev")
    assert profile.is_configured
    assert profile.uses_embedded
    assert profile.url == "kurrentdb://127.0.0.1:2999?Tls=false"
    assert not profile.tls


@pytest.mark.parametrize("env", config.ENVIRONMENTS)
def test_each_environment_reads_its_own_url_and_credentials(settings: Any, env: str) -> None:
    configure(
        settings, env, url=f"kurrentdb://{env}.example:2113", username=f"u-{env}", password=SECRET
    )
    profile = get_profile(env)
    assert profile.is_configured
    assert not profile.uses_embedded
    assert profile.url == f"kurrentdb://{env}.example:2113"
    assert profile.username == f"u-{env}"
    assert profile.password == SECRET
    assert profile.tls
    assert profile.is_production is (env == "mainnet")


def test_timeouts_and_retries_come_from_the_common_settings(settings: Any) -> None:
    settings.KURRENTDB_TIMEOUT_MS = 1500
    settings.KURRENTDB_SYNC_INTERVAL_MS = 250
    settings.KURRENTDB_MAX_RETRIES = 2
    profile = get_profile("dev")
    assert (profile.timeout_s, profile.sync_interval_s, profile.max_retries) == (1.5, 0.25, 2)


def test_all_profiles_are_in_order(settings: Any) -> None:
    assert list(config.all_profiles()) == ["dev", "staging", "test", "mainnet"]


def test_active_environment_follows_the_setting(settings: Any) -> None:
    settings.KURRENTDB_ENVIRONMENT = "staging"
    assert config.active_environment() == "staging"


def test_an_unknown_environment_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown KurrentDB environment 'prod'"):
        get_profile("prod")


@pytest.mark.parametrize(
    "scheme", ["kurrentdb", "kurrentdb+discover", "esdb", "esdb+discover", "kdb", "kdb+discover"]
)
def test_every_client_scheme_is_accepted(settings: Any, scheme: str) -> None:
    configure(settings, "test", url=f"{scheme}://db.example:2113?Tls=false")
    assert get_profile("test").url == f"{scheme}://db.example:2113?Tls=false"


def test_cluster_seed_list_is_accepted(settings: Any) -> None:
    configure(settings, "test", url="kurrentdb://a:2113,b:2113,c?Tls=false")
    assert get_profile("test").is_configured


def test_credentials_in_the_url_move_to_the_profile(settings: Any) -> None:
    configure(settings, "staging", url="kurrentdb://admin:chang%40it@db.example:2113")
    profile = get_profile("staging")
    assert (profile.username, profile.password) == ("admin", "chang@it")
    assert profile.url == "kurrentdb://db.example:2113"


# --- secrets -------------------------------------------------------------------------


def test_redacted_url_and_repr_never_show_the_password(settings: Any) -> None:
    configure(
        settings,
        "mainnet",
        url="kurrentdb+discover://db.example:2113?TlsVerifyCert=true",
        username="ops",
        password=SECRET,
    )
    profile = get_profile("mainnet")
    assert profile.redacted_url() == "kurrentdb+discover://***@db.example:2113?TlsVerifyCert=true"
    for text in (profile.redacted_url(), repr(profile), str(profile)):
        assert SECRET not in text
        assert "s3cret" not in text


def test_client_url_quotes_the_credentials(settings: Any) -> None:
    configure(
        settings, "staging", url="kurrentdb://db.example:2113", username="a b", password=SECRET
    )
    url = get_profile("staging").client_url()
    assert url == "kurrentdb://a%20b:Sup3r%3As3cret%40%2F%3F%23pw@db.example:2113"


# --- bad values: one ConfigError naming the variable, never echoing the password -----

BAD = [
    ({"url": "http://db.example:2113"}, "KURRENTDB_STAGING_URL has http://"),
    ({"url": "db.example:2113"}, "KURRENTDB_STAGING_URL has no scheme"),
    ({"url": "kurrentdb://:2113?Tls=false"}, "KURRENTDB_STAGING_URL names no host"),
    ({"url": "kurrentdb://?Tls=false"}, "KURRENTDB_STAGING_URL names no host"),
    ({"url": "kurrentdb://db:21x3?Tls=false"}, "KURRENTDB_STAGING_URL has a port"),
    ({"url": "kurrentdb://db:99999?Tls=false"}, "KURRENTDB_STAGING_URL has a port"),
    ({"url": "kurrentdb://db:2113?Tls=maybe"}, "KURRENTDB_STAGING_URL has a bad option"),
    ({"url": "kurrentdb://db:2113?Colour=blue"}, "KURRENTDB_STAGING_URL has a bad option"),
    ({"url": "kurrentdb://db:2113/path?Tls=false"}, "KURRENTDB_STAGING_URL has a path"),
    ({"url": "kurrentdb+discover://a:2113,b:2113"}, "takes one host"),
    (
        {"url": "kurrentdb://db:2113"},
        "KURRENTDB_STAGING_URL uses TLS .* KURRENTDB_STAGING_USERNAME and KURRENTDB_STAGING_PASSWORD",
    ),
    (
        {"url": "kurrentdb://db:2113", "username": "ops"},
        "KURRENTDB_STAGING_PASSWORD is empty but KURRENTDB_STAGING_USERNAME is set",
    ),
    (
        {"url": "kurrentdb://db:2113", "password": SECRET},
        "KURRENTDB_STAGING_USERNAME is empty but KURRENTDB_STAGING_PASSWORD is set",
    ),
    (
        {"url": f"kurrentdb://ops:{quote(SECRET, safe='')}@db:2113", "username": "ops"},
        "KURRENTDB_STAGING_URL holds credentials",
    ),
    ({"username": "ops", "password": SECRET}, "KURRENTDB_STAGING_USERNAME is set but"),
    ({"ca_file": "/nope/ca.pem"}, "KURRENTDB_STAGING_CA_FILE is set but KURRENTDB_STAGING_URL"),
    (
        {"url": "kurrentdb://db:2113", "username": "o", "password": SECRET, "ca_file": "/nope.pem"},
        "KURRENTDB_STAGING_CA_FILE=/nope.pem does not exist",
    ),
    (
        {"url": "kurrentdb://o:p@db:2113?TlsCaFile=/nope.pem"},
        "KURRENTDB_STAGING_URL: the TlsCaFile it names does not exist",
    ),
]


@pytest.mark.parametrize(("profile", "message"), BAD)
def test_bad_values_raise_one_clear_error(settings: Any, profile: dict, message: str) -> None:
    configure(settings, "staging", **dict(profile))
    with pytest.raises(ConfigError, match=message) as caught:
        get_profile("staging")
    assert SECRET not in str(caught.value)
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ConfigError):
        config.validate_all()


def test_bad_url_with_password_is_not_echoed(settings: Any) -> None:
    configure(settings, "mainnet", url=f"https://ops:{quote(SECRET, safe='')}@db:2113")
    with pytest.raises(ConfigError) as caught:
        get_profile("mainnet")
    assert "s3cret" not in str(caught.value)


def test_a_readable_ca_file_is_accepted(settings: Any, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    configure(
        settings,
        "mainnet",
        url="kurrentdb://db:2113",
        username="ops",
        password=SECRET,
        ca_file=str(ca),
    )
    assert get_profile("mainnet").ca_file == str(ca)


# --- the env reader -----------------------------------------------------------------


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch) -> EnvReader:
    for name in ("X_BOOL", "X_INT", "X_CHOICE", "X_LIST", "X_SECRET", "X_DB", "X_STR"):
        monkeypatch.delenv(name, raising=False)
    return EnvReader(None)


def test_reader_parses_good_values(reader: EnvReader, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_INT", " 42 ")
    monkeypatch.setenv("X_CHOICE", "Staging")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    monkeypatch.setenv("X_STR", "  padded ")
    assert reader.bool("X_BOOL", default=False) is True
    assert reader.int("X_INT", default=0, minimum=1) == 42
    assert reader.choice("X_CHOICE", choices=config.ENVIRONMENTS, default="dev") == "staging"
    assert reader.list("X_LIST", default=[]) == ["a", "b", "c"]
    assert reader.str("X_STR", default="") == "padded"


def test_reader_uses_defaults_for_missing_or_empty(
    reader: EnvReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X_INT", "")
    assert reader.bool("X_BOOL", default=True) is True
    assert reader.int("X_INT", default=7) == 7
    assert reader.list("X_LIST", default=["z"]) == ["z"]
    assert reader.secret("X_SECRET", debug_default="dev-key") == "dev-key"


@pytest.mark.parametrize(
    ("name", "value", "read", "message"),
    [
        ("X_BOOL", "sometimes", lambda r: r.bool("X_BOOL", default=False), "X_BOOL='sometimes' is not a boolean"),
        ("X_INT", "5s", lambda r: r.int("X_INT", default=1), "X_INT='5s' is not a whole number"),
        ("X_INT", "10", lambda r: r.int("X_INT", default=1, minimum=50), "X_INT=10 is too small: the minimum is 50"),
        ("X_INT", "70000", lambda r: r.int("X_INT", default=1, maximum=65535), "X_INT=70000 is too large"),
        ("X_CHOICE", "prod", lambda r: r.choice("X_CHOICE", config.ENVIRONMENTS, "dev"), "X_CHOICE='prod' is not one of: dev, staging, test, mainnet"),
        ("X_DB", "nosuch://x", lambda r: r.db("X_DB", default="sqlite:///x"), "X_DB has an unsupported database scheme"),
        ("X_DB", "postgres://u:p@h:port/db", lambda r: r.db("X_DB", default="sqlite:///x"), "X_DB is not a valid database URL"),
        ("X_SECRET", "", lambda r: r.secret("X_SECRET", debug_default=None), "X_SECRET is not set: required when DEBUG is off"),
        ("X_STR", None, lambda r: r.str("X_STR"), "X_STR is not set"),
    ],
)  # fmt: skip
def test_reader_names_the_variable_in_every_error(
    reader: EnvReader,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str | None,
    read: Any,
    message: str,
) -> None:
    if value is not None:
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        read(reader)
    assert str(caught.value).startswith(message)


def test_profile_is_frozen() -> None:
    profile = Profile(name="dev", url="kurrentdb://h:1?Tls=false")
    with pytest.raises(AttributeError):
        profile.url = "x"  # type: ignore[misc]
