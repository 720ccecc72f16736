"""Secrets: read from the environment for testnet and live only, never shown."""

from __future__ import annotations

import pytest

from basis.configs import (
    MASK,
    MissingSecretError,
    Secret,
    load_run_config,
    load_venue,
    show_config,
    to_masked_dict,
)


def test_missing_secret_names_the_variable(
    all_secrets: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OKX_LIVE_PASSPHRASE")
    with pytest.raises(MissingSecretError) as caught:
        load_run_config("btc_basis", "live")
    assert str(caught.value) == (
        "configs/venues/okx.yaml: environments.live.credentials.passphrase: "
        "environment variable OKX_LIVE_PASSPHRASE is not set"
    )


def test_every_missing_secret_is_listed(no_secrets: None) -> None:
    with pytest.raises(MissingSecretError) as caught:
        load_run_config("pure_lending_usdt", "all-testnet")
    assert str(caught.value) == (
        "configs/venues/alchemy.yaml: environments.testnet.credentials.api_key: "
        "environment variable ALCHEMY_TESTNET_API_KEY is not set\n"
        "configs/venues/alchemy.yaml: environments.testnet.credentials.private_key: "
        "environment variable WALLET_TESTNET_PRIVATE_KEY is not set"
    )


def test_an_empty_variable_is_missing(all_secrets: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINANCE_TESTNET_API_SECRET", "")
    with pytest.raises(MissingSecretError) as caught:
        load_run_config("ml_btc_directional_usdt_margin", "all-testnet")
    assert str(caught.value) == (
        "configs/venues/binance.yaml: environments.testnet.credentials.api_secret: "
        "environment variable BINANCE_TESTNET_API_SECRET is empty"
    )


def test_only_the_chosen_environment_needs_secrets(monkeypatch: pytest.MonkeyPatch, no_secrets: None) -> None:
    monkeypatch.setenv("BINANCE_TESTNET_API_KEY", "key")
    monkeypatch.setenv("BINANCE_TESTNET_API_SECRET", "secret")
    run = load_run_config("ml_btc_directional_usdt_margin", "all-testnet")
    settings = run.venues["binance"].settings
    assert settings.credentials.api_key.get_secret_value() == "key"
    live = run.venues["binance"].config.environments.live
    assert live is not None and not live.credentials.api_key.is_resolved


def test_simulation_needs_no_secrets(no_secrets: None) -> None:
    run = load_run_config("usdt_eth_staking_hedged_leveraged", "all-simulation")
    assert len(run.venues) == 9


def test_secrets_are_masked_in_the_show_output(all_secrets: dict[str, str]) -> None:
    shown = [
        ("usdt_market_neutral", "live"),
        ("btc_basis", "all-testnet"),
        ("pure_lending_usdt", "all-testnet"),
    ]
    text = "".join(show_config(mode, env) for mode, env in shown)
    for value in all_secrets.values():
        assert value not in text
    assert "api_key: '***'" in text
    assert "passphrase: '***'" in text
    assert "private_key: '***'" in text


def test_masked_dict_keeps_everything_else(all_secrets: dict[str, str]) -> None:
    shown = to_masked_dict(load_run_config("btc_basis", "live"))
    okx = shown["venues"]["okx"]
    assert okx["settings"]["credentials"] == {"api_key": MASK, "api_secret": MASK, "passphrase": MASK}
    assert okx["settings"]["perp"]["rest_url"] == "https://www.okx.com"
    assert okx["environment"] == "live"
    assert shown["mode"]["required_venues"] == ["binance", "bybit", "okx", "alchemy"]
    assert shown["market_neutral"] is True


def test_a_resolved_run_never_prints_a_secret(all_secrets: dict[str, str]) -> None:
    run = load_run_config("btc_basis", "live")
    printed = repr(run) + str(run) + repr(run.venues["okx"].settings) + str(run.venues["okx"].settings)
    for value in all_secrets.values():
        assert value not in printed
    assert (
        run.venues["okx"].settings.credentials.passphrase.get_secret_value()
        == all_secrets["OKX_LIVE_PASSPHRASE"]
    )


def test_secret_type() -> None:
    secret = Secret.parse("${SOME_KEY}")
    assert (secret.env_var, secret.is_resolved, str(secret), repr(secret)) == (
        "SOME_KEY",
        False,
        "***",
        "Secret(${SOME_KEY}, unresolved)",
    )
    resolved = secret.with_value("hunter2")
    assert (str(resolved), repr(resolved)) == ("***", "Secret(${SOME_KEY}, resolved)")
    assert resolved.get_secret_value() == "hunter2"


def test_an_unresolved_secret_has_no_value(no_secrets: None) -> None:
    live = load_venue("alchemy").environments.live
    assert live is not None
    with pytest.raises(MissingSecretError) as caught:
        live.credentials.private_key.get_secret_value()
    assert str(caught.value) == (
        "secret ${WALLET_LIVE_PRIVATE_KEY} was not resolved; load the configuration for testnet or live"
    )
