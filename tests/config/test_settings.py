"""Settings: prober.toml, PROBER_* overrides, secrets only from the environment or a secrets dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import SettingsError
from config.settings import load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_environment_overrides_the_file_and_nests_with_double_underscores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(
        tmp_path / "prober.toml",
        '[twilio]\naccount_sid = "ACfile"\n[planning]\nmax_calls_per_minute = 5\n',
    )
    monkeypatch.setenv("PROBER_PLANNING__MAX_CALLS_PER_MINUTE", "12")
    monkeypatch.setenv("PROBER_TWILIO__AUTH_TOKEN", "s3cret")
    settings = load_settings(config)
    assert settings.planning.max_calls_per_minute == 12
    assert settings.twilio.account_sid == "ACfile"
    assert settings.twilio.auth_token is not None
    assert settings.twilio.auth_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    # Without a database URL, the database is prober.db beside the config file.
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'prober.db'}"


def test_a_secret_in_the_file_is_refused_with_the_variable_to_use(tmp_path: Path) -> None:
    config = write(tmp_path / "prober.toml", '[smtp]\npassword = "hunter2"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert "smtp.password" in message and "PROBER_SMTP__PASSWORD" in message
    assert "hunter2" not in message


def test_secrets_are_read_from_a_secrets_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROBER_IMAP__PASSWORD", raising=False)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write(secrets / "PROBER_IMAP__PASSWORD", "from-file\n")
    write(secrets / "PROBER_SMTP__PASSWORD", "file-loses")
    monkeypatch.setenv("PROBER_SMTP__PASSWORD", "env-wins")
    settings = load_settings(write(tmp_path / "prober.toml", ""), secrets_dir=secrets)
    assert settings.imap.password is not None
    assert settings.imap.password.get_secret_value() == "from-file"
    assert settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "env-wins"
    with pytest.raises(SettingsError, match="secrets directory does not exist"):
        load_settings(tmp_path / "prober.toml", secrets_dir=tmp_path / "absent")


def test_a_database_password_in_the_file_is_refused(tmp_path: Path) -> None:
    config = write(
        tmp_path / "prober.toml", 'database_url = "postgresql://prober:pw@db:5432/prober"\n'
    )
    with pytest.raises(SettingsError, match="PROBER_DATABASE_URL"):
        load_settings(config)


def test_relative_sqlite_paths_are_beside_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROBER_DATABASE_URL", raising=False)
    config = write(tmp_path / "prober.toml", 'database_url = "sqlite:///data/p.db"\n')
    monkeypatch.chdir("/")
    url = load_settings(config).effective_database_url
    assert url == f"sqlite:///{tmp_path.resolve() / 'data' / 'p.db'}"


def test_invalid_values_name_the_key(tmp_path: Path) -> None:
    config = write(
        tmp_path / "prober.toml",
        '[planning]\nmax_calls_per_minute = "lots"\ntypo = 1\n[smtp]\nsecurity = "ssl"\n',
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert str(config) in message
    assert "planning.max_calls_per_minute" in message
    assert "planning.typo" in message
    assert "smtp.security" in message


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    config = write(tmp_path / "prober.toml", "[planning]\nmax_calls_per_minute = \n")
    with pytest.raises(SettingsError, match=r"prober\.toml: .*line 2"):
        load_settings(config)


def test_a_missing_prober_config_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBER_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings()


def test_the_starter_config_is_valid(tmp_path: Path) -> None:
    from prober.project.starter import STARTER_CONFIG

    settings = load_settings(STARTER_CONFIG)
    assert settings.planning.calls_per_structure == 3
    assert settings.database_url == ""


def test_scoring_settings_name_the_key_of_a_bad_value(tmp_path: Path) -> None:
    config = write(
        tmp_path / "prober.toml",
        '[scoring]\npopulation_bands = [10000, 2000]\npeer_group_by = ["kind", "mayor"]\n',
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert "scoring.population_bands" in message and "increasing" in message
    assert "scoring.peer_group_by" in message and "mayor" in message


def test_watching_the_reply_mailbox_is_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings(write(tmp_path / "empty.toml", "")).imap.watch is True
    off = load_settings(write(tmp_path / "off.toml", "[imap]\nwatch = false\n"))
    assert off.imap.watch is False
    on = write(tmp_path / "on.toml", "[imap]\nwatch = true\n")
    assert load_settings(on).imap.watch is True
    monkeypatch.setenv("PROBER_IMAP__WATCH", "false")
    assert load_settings(on).imap.watch is False
    monkeypatch.setenv("PROBER_IMAP__WATCH", "peut-être")
    with pytest.raises(SettingsError, match=r"imap\.watch"):
        load_settings(on)
