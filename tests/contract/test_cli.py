"""The ``basis`` command line: real processes, real output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from basis.bus.messages import MESSAGE_TYPES


def basis(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from basis.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_subjects_prints_every_family_with_its_message_type() -> None:
    result = basis("subjects")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("md.funding.<venue>.<symbol>") and "FundingRate" in line for line in lines)
    assert any(line.startswith("cmd.<venue>.perp_trade") and "PerpTrade" in line for line in lines)
    assert any(line.startswith("dlq.<original subject>") and "BASIS_DLQ" in line for line in lines)


def test_schema_writes_the_json_schema_of_every_message(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    result = basis("schema", "--out", str(out))
    assert result.returncode == 0, result.stderr
    schema = json.loads(out.read_text())
    assert {t.__name__ for t in MESSAGE_TYPES} <= set(schema["$defs"])


def test_config_validate_checks_every_file() -> None:
    result = basis("config", "validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configs valid: 9 modes, 10 venues, 3 share classes, 4 environments")


def test_config_show_masks_secrets() -> None:
    secrets = {
        "BINANCE_LIVE_API_KEY": "key-that-must-not-leak",
        "BINANCE_LIVE_API_SECRET": "secret-that-must-not-leak",
        "BYBIT_LIVE_API_KEY": "bybit-key-must-not-leak",
        "BYBIT_LIVE_API_SECRET": "bybit-secret-must-not-leak",
        "OKX_LIVE_API_KEY": "okx-key-must-not-leak",
        "OKX_LIVE_API_SECRET": "okx-secret-must-not-leak",
        "OKX_LIVE_PASSPHRASE": "okx-pass-must-not-leak",
        "ALCHEMY_LIVE_API_KEY": "alchemy-must-not-leak",
        "WALLET_LIVE_PRIVATE_KEY": "0x" + "ab" * 32,
    }
    result = basis("config", "show", "--mode", "btc_basis", "--env", "live", env=secrets)
    assert result.returncode == 0, result.stderr
    assert "***" in result.stdout
    for value in secrets.values():
        assert value not in result.stdout
        assert value not in result.stderr


def test_missing_secret_names_the_variable() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BINANCE_", "BYBIT_", "OKX_"))}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from basis.cli import main; main()",
            "config",
            "show",
            "--mode",
            "btc_basis",
            "--env",
            "live",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 2
    assert "BINANCE_LIVE_API_KEY" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_mode_is_one_line() -> None:
    result = basis("config", "show", "--mode", "no_such_mode")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "no mode named 'no_such_mode'" in result.stderr
