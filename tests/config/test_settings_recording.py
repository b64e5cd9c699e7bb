"""Recording from the first ring and the measure settings: checked, with the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import SettingsError
from config.settings import load_settings


def settings_from(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "prober.toml"
    config.write_text(text, encoding="utf-8")
    return config


def test_recording_from_the_first_ring_is_off_by_default(tmp_path: Path) -> None:
    settings = load_settings(settings_from(tmp_path, ""))
    assert settings.twilio.record_from_ringing is False
    assert settings.measure.prefer == "audio"


@pytest.mark.parametrize(
    "own_leg", ["client:prober", "client:sonde_01", "sip:prober@x.sip.twilio.com"]
)
def test_an_own_leg_is_a_client_identity_or_a_sip_uri(tmp_path: Path, own_leg: str) -> None:
    config = settings_from(
        tmp_path, f'[twilio]\nrecord_from_ringing = true\nown_leg = "{own_leg}"\n'
    )
    assert load_settings(config).twilio.own_leg == own_leg


@pytest.mark.parametrize("own_leg", ["+33970000001", "client:", "client:pro ber", "sip:prober"])
def test_an_own_leg_of_another_form_is_refused_naming_the_field(
    tmp_path: Path, own_leg: str
) -> None:
    config = settings_from(tmp_path, f'[twilio]\nown_leg = "{own_leg}"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert "twilio.own_leg" in str(caught.value)
    assert "client:NAME" in str(caught.value)


def test_recording_from_the_first_ring_without_an_own_leg_says_what_to_set(
    tmp_path: Path,
) -> None:
    config = settings_from(tmp_path, "[twilio]\nrecord_from_ringing = true\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert "twilio.own_leg" in str(caught.value)


def test_the_preferred_source_is_audio_or_callbacks(tmp_path: Path) -> None:
    assert (
        load_settings(settings_from(tmp_path, '[measure]\nprefer = "callbacks"\n')).measure.prefer
        == "callbacks"
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(settings_from(tmp_path, '[measure]\nprefer = "recogniser"\n'))
    assert "measure.prefer" in str(caught.value)
