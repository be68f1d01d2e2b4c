"""Settings are read once and checked all at once: each mistake one line naming its variable,
secrets never echoed, exit code 2; production (oidc) refuses to start without its keys, dev mode
generates them into the data directory with one mechanism."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from pdo_graph.auth.tokens import DEV_KEY_FILE, DevKeyMissing, load_dev_key, load_or_create_dev_key
from pdo_graph.config import VARIABLES, Settings, SettingsError, unknown_variables
from pdo_graph.crypto import (
    KEY_FILE,
    SECRET_KEY_FILE,
    URL_KEY_FILE,
    catalog_secret_key,
    new_key_spec,
    personal_data_keys,
    url_signing_key,
)
from pdo_graph.integrations.secrets import SecretBox, SourceSecret
from tests.console.conftest import clean_env, run

KEY = "k" * 40
OIDC = {
    "PDO_AUTH_MODE": "oidc",
    "PDO_OIDC_ISSUER": "https://id.example.org",
    "PDO_SECRET_KEY": KEY,
    "PDO_PERSONAL_DATA_KEYS": new_key_spec("p1"),
    "PDO_URL_SIGNING_KEY": "u" * 44,
}


def problems(env: dict[str, str], **kwargs) -> list[str]:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env, **kwargs)
    return refused.value.lines


def test_defaults_and_values_are_typed():
    assert Settings.from_env({}) == Settings()
    settings = Settings.from_env(
        {
            "PDO_PORT": "8080",
            "PDO_DEV_FORCE": "yes",
            "PDO_SYNC_POLL_SECONDS": "2.5",
            "PDO_CORS_ORIGINS": "https://a.example.org, http://localhost:3000",
            "PDO_LOG_LEVEL": "DEBUG",
            "PDO_DATA_DIR": "some/dir",
            "PDO_HOST": "",  # empty is unset
        }
    )
    assert settings.port == 8080 and settings.dev_force is True and settings.sync_poll_seconds == 2.5
    assert settings.cors_origins == ["https://a.example.org", "http://localhost:3000"]
    assert settings.log_level == "debug" and settings.host == "127.0.0.1"
    assert settings.data_dir == Path.cwd() / "some" / "dir"
    assert Settings.from_env(OIDC).auth_mode == "oidc"


def test_each_mistake_is_one_line_naming_its_variable_all_at_once():
    lines = problems(
        {
            "PDO_PORT": "abc",
            "PDO_DB_POOL_SIZE": "0",
            "PDO_DEV_FORCE": "ture",
            "PDO_AUTH_MODE": "prod",
            "PDO_REGION_CODE": "7",
            "PDO_SYNC_POLL_SECONDS": "nan",
            "PDO_LOG_FORMAT": "xml",
            "PDO_OIDC_ALGORITHMS": "RS256,HS256",
            "PDO_CORS_ORIGINS": "example.org",
            "PDO_MAX_DEPTH": "1e3",
        }
    )
    assert lines == [
        "PDO_PORT: expected a port number 1–65535, got 'abc'",
        "PDO_DB_POOL_SIZE: expected a whole number 1–1000, got '0'",
        "PDO_REGION_CODE: expected two digits (the region's code, e.g. 77), got '7'",
        "PDO_AUTH_MODE: expected one of dev, oidc, got 'prod'",
        "PDO_DEV_FORCE: expected 1 or 0 (true/false, yes/no, on/off), got 'ture'",
        "PDO_OIDC_ALGORITHMS: expected a comma-separated list of RS256, RS384, RS512, PS256, PS384, PS512,"
        " ES256, ES384, ES512, EdDSA (none and HS* are refused), got 'RS256,HS256'",
        "PDO_MAX_DEPTH: expected a whole number 2–100, got '1e3'",
        "PDO_CORS_ORIGINS: expected comma-separated origins such as https://app.example.org (or *), got 'example.org'",
        "PDO_SYNC_POLL_SECONDS: expected seconds 1–86400, got 'nan'",
        "PDO_LOG_FORMAT: expected one of json, text, auto, got 'xml'",
    ]
    for port in ("0", "65536", "-1", "80.5", "８０"):
        assert problems({"PDO_PORT": port}) == [f"PDO_PORT: expected a port number 1–65535, got {port!r}"]


def test_secrets_and_passwords_are_never_echoed():
    lines = problems(
        {
            "PDO_SECRET_KEY": "short-secret",
            "PDO_PERSONAL_DATA_KEYS": "k1:c2hvcnQ=",
            "PDO_DATABASE_URL": "mysql://admin:s3cr3t-pw@db.example.org/pdo",
        }
    )
    assert "short-secret" not in "\n".join(lines) and "s3cr3t-pw" not in "\n".join(lines)
    assert lines == [
        "PDO_DATABASE_URL: expected postgresql://user:password@host:port/database (PostgreSQL only),"
        " got 'mysql://admin:***@db.example.org/pdo'",
        "PDO_SECRET_KEY: expected at least 32 characters (e.g. `openssl rand -base64 32`), got 12 characters",
        "PDO_PERSONAL_DATA_KEYS: expected id:base64key,id:base64key (each key 32+ random bytes):"
        " key k1 is shorter than 32 bytes, got 11 characters",
    ]
    assert "password" not in repr(Settings.from_env({"PDO_DATABASE_URL": "postgresql://u:password@h/db"}))
    assert KEY not in repr(Settings.from_env(OIDC))


def test_oidc_mode_requires_its_issuer_and_keys():
    assert problems({"PDO_AUTH_MODE": "oidc"}) == [
        "PDO_OIDC_ISSUER: required when PDO_AUTH_MODE=oidc (the OpenID Provider's issuer URL)",
        "PDO_SECRET_KEY: required when PDO_AUTH_MODE=oidc (it encrypts catalog-source secrets; at least 32"
        " characters, e.g. `openssl rand -base64 32`)",
        'PDO_PERSONAL_DATA_KEYS: required when PDO_AUTH_MODE=oidc (the key ring for СНИЛС at rest, e.g. "k1:$(openssl'
        ' rand -base64 32)")',
        "PDO_URL_SIGNING_KEY: required when PDO_AUTH_MODE=oidc (it signs CSV links, which every serving machine"
        " must open alike; e.g. $(openssl rand -base64 32))",
    ]
    # a value refused on its own is not reported a second time as missing
    assert problems({**OIDC, "PDO_SECRET_KEY": "short"}) == [
        "PDO_SECRET_KEY: expected at least 32 characters (e.g. `openssl rand -base64 32`), got 5 characters"
    ]
    assert problems({**OIDC, "PDO_OIDC_ISSUER": "http://id.example.org"}) == [
        "PDO_OIDC_ISSUER: expected an https:// URL (plain http only on loopback), got 'http://id.example.org'"
    ]


def test_the_server_in_dev_mode_listens_on_loopback_only():
    assert Settings.from_env({"PDO_HOST": "0.0.0.0"}).host == "0.0.0.0"  # other commands do not listen
    [line] = problems({"PDO_HOST": "0.0.0.0"}, serving=True)
    assert line.startswith("PDO_HOST: PDO_AUTH_MODE=dev may only listen on loopback") and "'0.0.0.0'" in line
    assert problems({}, serving=True, host="192.168.1.5")[0].startswith("PDO_HOST:")
    assert Settings.from_env({"PDO_HOST": "0.0.0.0", "PDO_DEV_FORCE": "1"}, serving=True).dev_force
    assert Settings.from_env({}, serving=True, host="::1", port=9000).port == 9000


def test_every_setting_has_one_variable_and_typos_are_named():
    assert len({v.name for v in VARIABLES}) == len(VARIABLES)
    assert unknown_variables(
        {"PDO_PROT": "1", "PDO_LOGLEVEL": "debug", "PDO_PORT": "1", "HOME": "/", "PDO_XYZ": ""}
    ) == [
        "PDO_LOGLEVEL: not a pdo-graph setting, ignored (did you mean PDO_LOG_LEVEL?)",
        "PDO_PROT: not a pdo-graph setting, ignored (did you mean PDO_PORT?)",
        "PDO_XYZ: not a pdo-graph setting, ignored",
    ]


def test_the_cli_reports_bad_settings_in_lines_and_exit_code_2(tmp_path: Path):
    env = clean_env(PDO_PORT="abc", PDO_MAX_COST="lots", PDO_DATA_DIR=str(tmp_path), PDO_PROT="8001")
    for command in (["serve"], ["migrate"], ["ledger", "check"], ["dev-token", "--role", "guardian", "--subject", "a"]):
        done = run(*command, env=env)
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.splitlines() == [
            "warning: PDO_PROT: not a pdo-graph setting, ignored (did you mean PDO_PORT?)",
            "PDO_PORT: expected a port number 1–65535, got 'abc'",
            "PDO_MAX_COST: expected a whole number 1–1000000000, got 'lots'",
        ]
    # command-line options are checked as strictly
    done = run("serve", "--port", "abc", env=clean_env(PDO_DATA_DIR=str(tmp_path)))
    assert done.returncode == 2 and "argument --port: expected a port number 1–65535, got 'abc'" in done.stderr
    done = run("serve", "--host", "0.0.0.0", env=clean_env(PDO_DATA_DIR=str(tmp_path)))
    assert done.returncode == 2 and done.stderr.startswith("PDO_HOST: PDO_AUTH_MODE=dev may only listen on loopback")
    # production refuses to start without its keys, before touching anything
    done = run("serve", env=clean_env(PDO_AUTH_MODE="oidc", PDO_OIDC_ISSUER="https://id.example.org"))
    assert done.returncode == 2
    assert [line.split(":")[0] for line in done.stderr.splitlines()] == [
        "PDO_SECRET_KEY",
        "PDO_PERSONAL_DATA_KEYS",
        "PDO_URL_SIGNING_KEY",
    ]
    # a data directory that is a file
    (tmp_path / "file").write_text("x")
    done = run("migrate", env=clean_env(PDO_DATA_DIR=str(tmp_path / "file")))
    assert done.returncode == 2 and done.stderr.startswith("PDO_DATA_DIR: expected a directory, and this is a file")


def test_dev_mode_generates_every_secret_into_the_data_directory_once(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data", auth_mode="dev")
    key = catalog_secret_key(settings)
    assert key and len(key) >= 32 and catalog_secret_key(settings) == key
    ring = personal_data_keys(settings)
    signing = load_or_create_dev_key(settings.data_dir)
    for name in (SECRET_KEY_FILE, KEY_FILE, DEV_KEY_FILE):
        mode = (settings.data_dir / name).stat().st_mode
        assert stat.S_IMODE(mode) == 0o600, name
    assert sorted(os.listdir(settings.data_dir)) == sorted([SECRET_KEY_FILE, KEY_FILE, DEV_KEY_FILE])  # no temp files
    assert load_dev_key(settings.data_dir).kid == signing.kid and ring.ids == ["dev1"]
    # sealed with the generated key, opened by a later process reading the same file
    box = SecretBox.from_settings(settings)
    assert box is not None
    sealed = box.seal(SourceSecret("client_secret", "s3cret"))
    assert SecretBox((settings.data_dir / SECRET_KEY_FILE).read_text()).open(sealed).value == "s3cret"
    # the configured key wins; outside dev mode nothing is generated
    assert catalog_secret_key(replace(settings, secret_key=KEY)) == KEY
    prod = Settings(data_dir=tmp_path / "prod", auth_mode="oidc")
    assert catalog_secret_key(prod) is None and SecretBox.from_settings(prod) is None
    assert not (tmp_path / "prod").exists()
    with pytest.raises(DevKeyMissing, match=r"no dev signing key in .*prod \(PDO_DATA_DIR\)"):
        load_dev_key(tmp_path / "prod")


def test_analytics_settings_are_checked_and_the_link_key_is_generated_once(tmp_path: Path):
    settings = Settings.from_env(
        {
            "PDO_ANALYTICS_MIN_CELL": "10",
            "PDO_ANALYTICS_MAX_ROWS": "20000",
            "PDO_ANALYTICS_REFRESH_MINUTES": "0",
            "PDO_ANALYTICS_LINK_SECONDS": "60",
        }
    )
    assert (settings.analytics_min_cell, settings.analytics_max_rows) == (10, 20000)
    assert (settings.analytics_refresh_minutes, settings.analytics_link_seconds) == (0.0, 60)
    assert problems(
        {
            "PDO_ANALYTICS_MIN_CELL": "0",
            "PDO_ANALYTICS_MAX_ROWS": "many",
            "PDO_ANALYTICS_REFRESH_MINUTES": "-5",
            "PDO_ANALYTICS_LINK_SECONDS": "5",
            "PDO_URL_SIGNING_KEY": "short-link-secret",
        }
    ) == [
        "PDO_ANALYTICS_MIN_CELL: expected a number of children 1–1000, got '0'",
        "PDO_ANALYTICS_MAX_ROWS: expected a number of rows 1–1000000, got 'many'",
        "PDO_ANALYTICS_REFRESH_MINUTES: expected minutes 0–10080, got '-5'",
        "PDO_ANALYTICS_LINK_SECONDS: expected a number of seconds 10–86400, got '5'",
        "PDO_URL_SIGNING_KEY: expected at least 32 characters (e.g. `openssl rand -base64 32`), got 17 characters",
    ]
    # in dev mode the link key is generated once into the data directory, readable by its owner only
    dev = Settings(data_dir=tmp_path / "dev", auth_mode="dev")
    key = url_signing_key(dev)
    assert stat.S_IMODE((tmp_path / "dev" / URL_KEY_FILE).stat().st_mode) == 0o600
    assert os.listdir(tmp_path / "dev") == [URL_KEY_FILE]
    assert url_signing_key(replace(dev, data_dir=tmp_path / "dev")) == key
    # outside dev mode it is configured (every serving machine opens the same links); nothing is generated
    with pytest.raises(RuntimeError, match="PDO_URL_SIGNING_KEY"):
        url_signing_key(Settings(data_dir=tmp_path / "prod", auth_mode="oidc"))
    assert not (tmp_path / "prod").exists()
    configured = replace(Settings.from_env(OIDC), data_dir=tmp_path / "prod", url_signing_key=KEY)
    assert url_signing_key(configured) not in (key, KEY.encode())  # derived from the configured secret
    assert KEY not in repr(configured)
