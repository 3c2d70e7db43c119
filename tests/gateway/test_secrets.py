"""Outside demo mode the daemon refuses to start with unset or development-default secrets."""

from __future__ import annotations

import pytest

from gateway.app import create_app
from gateway.cli import main
from gateway.settings import DEV_JWT_SECRET, DEV_PARTNER_TOKEN, InsecureSettings, Settings
from tests.conftest import JWT_SECRET, PARTNER_TOKEN


def settings_with(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.mark.parametrize(("values", "named"), [
    ({"jwt_secret": JWT_SECRET}, "YCLIENTS_PARTNER_TOKEN"),  # the partner token's default
    ({"jwt_secret": JWT_SECRET, "yclients_partner_token": DEV_PARTNER_TOKEN}, "YCLIENTS_PARTNER_TOKEN"),
    ({"jwt_secret": JWT_SECRET, "yclients_partner_token": ""}, "YCLIENTS_PARTNER_TOKEN"),
    ({"yclients_partner_token": PARTNER_TOKEN}, "JWT_SECRET"),
    ({"yclients_partner_token": PARTNER_TOKEN, "jwt_secret": DEV_JWT_SECRET}, "JWT_SECRET"),
])
def test_app_refuses_insecure_secrets_outside_demo_mode(values: dict, named: str) -> None:
    with pytest.raises(InsecureSettings, match=named) as caught:
        create_app(settings_with(**values))
    assert "demo" in str(caught.value)


def test_demo_mode_and_real_secrets_start() -> None:
    assert settings_with(demo=True).insecure_secrets() == []  # the sandbox's defaults are fine there
    create_app(settings_with(demo=True))
    create_app(settings_with(jwt_secret=JWT_SECRET, yclients_partner_token=PARTNER_TOKEN))


def test_serve_prints_a_clear_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("YCLIENTS_PARTNER_TOKEN", "JWT_SECRET", "DEMO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir("/")  # no .env here
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "refusing to start outside demo mode" in err and "YCLIENTS_PARTNER_TOKEN" in err and "JWT_SECRET" in err
