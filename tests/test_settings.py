"""settings.Settings: every environment variable the app and the CLI read, with its default, parsed once."""
from __future__ import annotations

from pathlib import Path

import pytest

from settings import DEFAULT_ISSUER_NAME, Settings, SettingsError, default_key_dir


def test_defaults_from_an_empty_environment():
    s = Settings.from_env({"XDG_DATA_HOME": "/data"})
    assert s.database_url is None
    assert s.public_url == "http://127.0.0.1:8000"
    assert s.issuer_name == DEFAULT_ISSUER_NAME == "Certamen Demo Certification Body"
    assert s.key_dir == Path("/data/certamen/keys")
    assert s.instance_dir == Path("instance").resolve()
    assert s.secret_key is None
    assert s.secure_cookies is False
    assert s.max_upload == 2 * 1024 * 1024
    assert s.proxy_hops == 0
    assert s.ratelimit_signin == "30 per minute;300 per hour"
    assert s.ratelimit_register == "20 per minute;200 per hour"
    assert s.ratelimit_answers == s.ratelimit_verify == "120 per minute"
    assert s.ratelimit_storage == "worker-memory://"
    assert s.ratelimit_enabled is True
    assert s.workers is None and s.threads == 2


def test_the_key_dir_default_without_xdg_data_home():
    assert default_key_dir({}) == Path("~/.local/share/certamen/keys").expanduser()
    assert Settings.from_env({}).key_dir == default_key_dir({})


def test_the_environment_overrides_every_default(tmp_path):
    s = Settings.from_env({
        "DATABASE_URL": "postgresql://u@h/db", "CERTAMEN_PUBLIC_URL": "https://certs.example.com/",
        "CERTAMEN_ISSUER_NAME": "Example Body", "CERTAMEN_KEY_DIR": str(tmp_path / "k"),
        "CERTAMEN_INSTANCE": str(tmp_path / "i"), "CERTAMEN_SECRET_KEY": "s3cret", "CERTAMEN_MAX_UPLOAD": "1024",
        "CERTAMEN_PROXY_HOPS": "1", "CERTAMEN_RATELIMIT_SIGNIN": "5 per minute",
        "CERTAMEN_RATELIMIT_STORAGE": "redis://r:6379", "CERTAMEN_RATELIMIT_ENABLED": "0",
        "CERTAMEN_WORKERS": "4", "CERTAMEN_THREADS": "3", "CERTAMEN_KEY_PASSPHRASE": "k3y-pass",
        "CERTAMEN_FONT_DIR": str(tmp_path / "fonts"),
    })
    assert s.database_url == "postgresql://u@h/db"
    assert s.public_url == "https://certs.example.com"  # no trailing slash
    assert s.secure_cookies is True  # follows an https public URL unless set
    assert (s.issuer_name, s.key_dir, s.instance_dir) == ("Example Body", tmp_path / "k", tmp_path / "i")
    assert (s.secret_key, s.max_upload, s.proxy_hops) == ("s3cret", 1024, 1)
    assert s.ratelimit_signin == "5 per minute" and s.ratelimit_register == "20 per minute;200 per hour"
    assert (s.ratelimit_storage, s.ratelimit_enabled, s.workers, s.threads) == ("redis://r:6379", False, 4, 3)
    assert (s.key_passphrase, s.font_dir) == ("k3y-pass", tmp_path / "fonts")
    assert "s3cret" not in repr(s) and "k3y-pass" not in repr(s)


def test_secure_cookies_can_be_set_either_way():
    https = {"CERTAMEN_PUBLIC_URL": "https://certs.example.com"}
    assert Settings.from_env({**https, "CERTAMEN_SECURE_COOKIES": "0"}).secure_cookies is False
    assert Settings.from_env({"CERTAMEN_SECURE_COOKIES": "1"}).secure_cookies is True


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings.from_env({}).public_url = "http://elsewhere"


@pytest.mark.parametrize("name, value", [
    ("CERTAMEN_PUBLIC_URL", "ftp://certs.example.com"),
    ("CERTAMEN_PUBLIC_URL", "certs.example.com"),
    ("CERTAMEN_MAX_UPLOAD", "2MB"),
    ("CERTAMEN_MAX_UPLOAD", "0"),
    ("CERTAMEN_PROXY_HOPS", "one"),
    ("CERTAMEN_PROXY_HOPS", "-1"),
    ("CERTAMEN_WORKERS", "0"),
    ("CERTAMEN_THREADS", "2.5"),
    ("CERTAMEN_SECURE_COOKIES", "maybe"),
    ("CERTAMEN_RATELIMIT_ENABLED", "off-ish"),
    ("CERTAMEN_RATELIMIT_ANSWERS", "lots"),
    ("DATABASE_URL", "nonsense://x"),
    ("DATABASE_URL", "mysql://u@h/db"),
])
def test_a_bad_value_is_refused_naming_the_variable(name, value):
    with pytest.raises(SettingsError, match=name) as caught:
        Settings.from_env({name: value})
    assert isinstance(caught.value, ValueError)  # the CLI reports ValueErrors as one line


def test_the_app_takes_its_config_from_the_settings_and_test_config_overrides_it(sqlite_url, tmp_path):
    from api import create_app

    settings = Settings.from_env({"CERTAMEN_PUBLIC_URL": "https://certs.example.com", "CERTAMEN_ISSUER_NAME": "Body",
                                  "CERTAMEN_KEY_DIR": str(tmp_path / "keys"), "CERTAMEN_SECRET_KEY": "k",
                                  "CERTAMEN_INSTANCE": str(tmp_path / "instance"), "DATABASE_URL": sqlite_url,
                                  "CERTAMEN_KEY_PASSPHRASE": "a long key passphrase"})
    app = create_app({"ISSUER_NAME": "Override"}, settings=settings)
    try:
        assert app.extensions["settings"] is settings
        assert app.config["SESSION_COOKIE_SECURE"] is True and app.secret_key == "k"
        issuer = app.extensions["issuer"]
        assert (issuer.public_url, issuer.name) == ("https://certs.example.com", "Override")
        assert issuer.keys.key_dir == (tmp_path / "keys").resolve()
        assert (tmp_path / "keys" / "k1.key").read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY")
    finally:
        app.extensions["db_engine"].dispose()


def test_certamen_now_sets_the_clock_of_the_cli_and_the_jobs():
    import datetime as dt

    fixed = Settings.from_env({"CERTAMEN_NOW": "2026-12-24T10:00:00+01:00"})
    assert fixed.now() == dt.datetime(2026, 12, 24, 9, 0, tzinfo=dt.UTC)
    assert Settings.from_env({"CERTAMEN_NOW": "2026-12-24T09:00:00Z"}).now() == fixed.now()
    assert abs(Settings.from_env({}).now() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
    for bad, says in (("tomorrow", "ISO 8601"), ("2026-12-24T09:00:00", "needs its offset")):
        with pytest.raises(SettingsError, match=says):
            Settings.from_env({"CERTAMEN_NOW": bad})
