"""Bad input: ``basis backtest`` exits non-zero with one line on stderr that names the problem, and
writes nothing (every input is checked before the run starts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from backtestutil import run_cli

from basis.backtest import Backtest, BacktestRequest
from basis.cli.errors import user_errors
from basis.components.feed import DataError
from basis.configs.loader import default_root
from basis.data import DATA_ROOT


def assert_one_line_error(tmp_path: Path, args: list[str], *needles: str) -> str:
    result = run_cli(["backtest", *args, "--out", "out", "-q"], tmp_path)
    assert result.returncode != 0, result.explain()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{result.stderr}"
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert not (tmp_path / "out" / "summary.json").exists()
    return lines[0]


def test_malformed_flows_file_names_the_file_and_line(tmp_path: Path) -> None:
    flows = tmp_path / "flows.csv"
    flows.write_text(
        "timestamp,amount\n2024-06-05T00:00:00Z,50000\n2024-06-10T12:00:00Z,thirty thousand\n",
        encoding="utf-8",
    )
    line = assert_one_line_error(
        tmp_path, ["--mode", "btc_basis", "--flows", str(flows)], f"{flows}:3", "thirty thousand"
    )
    assert "not a number" in line


def test_flow_outside_the_window_is_refused(tmp_path: Path) -> None:
    flows = tmp_path / "flows.csv"
    flows.write_text("timestamp,amount\n2024-07-01T00:00:00Z,1000\n", encoding="utf-8")
    assert_one_line_error(
        tmp_path,
        ["--mode", "btc_basis", "--start", "2024-06-01", "--end", "2024-06-15", "--flows", str(flows)],
        str(flows),
        "2024-07-01",
        "outside the window",
    )


def test_unknown_mode(tmp_path: Path) -> None:
    assert_one_line_error(tmp_path, ["--mode", "btc_basiss"], "btc_basiss", "no mode")


def test_data_root_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-root"
    assert_one_line_error(tmp_path, ["--mode", "btc_basis", "--data", str(missing)], str(missing))


def test_window_outside_the_data(tmp_path: Path) -> None:
    assert_one_line_error(
        tmp_path, ["--mode", "btc_basis", "--start", "2019-01-01"], "2019-01-01", "outside the data"
    )


def test_bad_date_string(tmp_path: Path) -> None:
    assert_one_line_error(tmp_path, ["--mode", "btc_basis", "--start", "2024-13-01"], "--start", "2024-13-01")


def test_bad_date_string_is_refused(tmp_path: Path) -> None:
    """What holds today of the case above: refused, non-zero, the option and the value named."""
    args = ["backtest", "--mode", "btc_basis", "--start", "2024-13-01", "--out", "out", "-q"]
    result = run_cli(args, tmp_path)
    assert result.returncode != 0
    assert "--start" in result.stderr and "2024-13-01" in result.stderr
    assert not (tmp_path / "out").exists()


def test_mode_keys_the_strategy_cannot_run_with(tmp_path: Path) -> None:
    assert_one_line_error(
        tmp_path,
        ["--mode", "btc_basis", "--set", "transfer_band=0.5"],
        "mode btc_basis",
        "transfer_band must be in [0, 0.302)",
        "got 0.5",
    )


@pytest.mark.parametrize("capital", ["0", "-5"])
def test_non_positive_capital(tmp_path: Path, capital: str) -> None:
    assert_one_line_error(tmp_path, ["--mode", "btc_basis", "--capital", capital], "--capital", "positive")


def test_series_no_data_root_holds(tmp_path: Path) -> None:
    """A venue config naming a series file that neither the bundled root nor a --data root holds.

    Realistic case: OKX has no BTCUSDT perp bars, so its config marks the OKX BTC perp to Binance's. Drop
    that proxy and point the series at OKX's own (absent) file. The command line takes no config root,
    so this goes through the Python API; the error must be one of the CLI's user errors (one line).
    """
    configs = tmp_path / "configs"
    for folder in ("modes", "venues", "share_classes", "environments"):
        (configs / folder).mkdir(parents=True)
        for file in (default_root() / folder).glob("*.yaml"):
            (configs / folder / file.name).write_bytes(file.read_bytes())
    okx_file = configs / "venues" / "okx.yaml"
    okx = yaml.safe_load(okx_file.read_text(encoding="utf-8"))
    simulation = okx["environments"]["simulation"]
    del simulation["proxies"]["BTCUSDT_perp"]
    simulation["series"]["BTCUSDT_perp"] = "cex/okx/BTCUSDT_perp_1h.csv.gz"
    okx_file.write_text(yaml.safe_dump(okx, sort_keys=False), encoding="utf-8")
    extra = tmp_path / "more-data"
    (extra / "cex" / "okx").mkdir(parents=True)

    with pytest.raises(DataError) as caught:
        Backtest(BacktestRequest(mode="btc_basis", config_root=configs, data=(extra,), out=tmp_path / "out"))
    message = str(caught.value)
    assert isinstance(caught.value, user_errors())
    assert "\n" not in message
    assert str(DATA_ROOT / "cex/okx/BTCUSDT_perp_1h.csv.gz") in message
    assert str(extra / "cex/okx/BTCUSDT_perp_1h.csv.gz") in message
    assert not (tmp_path / "out").exists()
