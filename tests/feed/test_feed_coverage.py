"""Coverage: spans, intervals and the documented holes of the bundled data; a mode's default window."""

from __future__ import annotations

import json
import time

import pytest
from feedutil import ROOT

from basis.components.feed import WindowError, common_window, coverage, coverages, discover, iso, parse_utc
from basis.components.feed.coverage import clear_cache

CATALOGUE = discover([ROOT])
BINANCE_HOLES = [
    "2024-02-10T01:00:00Z", "2024-03-22T01:00:00Z", "2024-05-02T00:00:00Z", "2024-06-12T00:00:00Z",
    "2024-07-23T00:00:00Z", "2024-09-02T00:00:00Z", "2024-10-13T00:00:00Z", "2024-11-23T01:00:00Z",
    "2025-01-03T01:00:00Z", "2025-02-13T01:00:00Z", "2025-03-26T01:00:00Z", "2025-05-06T00:00:00Z",
    "2025-06-16T00:00:00Z",
]  # fmt: skip


def cover(name: str):  # type: ignore[no-untyped-def]
    return coverage(CATALOGUE.get(name), [ROOT])


@pytest.mark.parametrize(
    "name", ["bar:binance:BTCUSDT:perp", "bar:binance:BTCUSDT:spot", "bar:binance:ETHUSDT:perp"]
)
def test_the_13_binance_holes(name: str) -> None:
    cov = cover(name)
    assert [iso(g.start) for g in cov.gaps] == BINANCE_HOLES  # gap.start = open time of the first missing bar
    assert all(g.missing == 23 for g in cov.gaps)
    assert cov.missing == 299
    assert all(g.end - g.start == 24 * 3600 * 10**9 for g in cov.gaps)


def test_the_two_okx_30_day_holes() -> None:
    cov = cover("bar:okx:ETHUSDT:perp")
    assert [(iso(g.start), iso(g.end), g.missing) for g in cov.gaps] == [
        ("2024-08-31T16:00:00Z", "2024-09-30T17:00:00Z", 720),
        ("2025-03-31T16:00:00Z", "2025-04-30T17:00:00Z", 720),
    ]
    assert iso(cov.first) == "2024-08-01T01:00:00Z"


def test_okx_funding_missing_days() -> None:
    cov = cover("funding:okx:BTCUSDT")
    assert cov.missing == 132  # 44 days x 3 events
    august = cov.gaps[0]
    assert (iso(august.start), iso(august.end)) == ("2024-07-31T16:00:00Z", "2024-09-01T00:00:00Z")
    assert august.missing == 93


def test_complete_series_have_no_gaps() -> None:
    for name in (
        "bar:bybit:BTCUSDT:perp",
        "funding:binance:ETHUSDT",
        "reserve:aave_v3:weETH",
        "gas:ethereum:gwei",
    ):
        assert cover(name).gaps == (), name
    spans = {
        name: (iso(cover(name).first), iso(cover(name).last))
        for name in ("bar:bybit:BTCUSDT:perp", "funding:okx:ETHUSDT")
    }
    assert spans == {
        "bar:bybit:BTCUSDT:perp": ("2024-01-01T01:00:00Z", "2025-07-01T00:00:00Z"),
        "funding:okx:ETHUSDT": ("2024-05-01T00:00:00Z", "2025-06-30T16:00:00Z"),
    }


def test_default_window_of_a_mode() -> None:
    mode = CATALOGUE.select(
        [
            "bar:binance:BTCUSDT:spot",
            "bar:binance:BTCUSDT:perp",
            "funding:binance:BTCUSDT",
            "reserve:aave_v3:weETH",
            "reward:etherfi:ETHFI",
        ]
    )
    start, end = common_window(coverages(mode, [ROOT]))
    assert (iso(start), iso(end)) == (
        "2024-05-12T00:00:00Z",
        "2025-07-01T00:00:00Z",
    )  # rewards do not bound it
    okx = common_window(coverages(CATALOGUE.select(["bar:okx:ETHUSDT:perp", "funding:okx:ETHUSDT"]), [ROOT]))
    assert okx == (parse_utc("2024-08-01T01:00:00Z"), parse_utc("2025-07-01T00:00:00Z"))


def test_no_common_window(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from feedutil import write_csv

    write_csv(
        tmp_path,
        "cex/binance/BTCUSDT_funding.csv",
        ("timestamp", "funding_rate"),
        [("2023-01-01T00:00:00Z", 0.1)],
    )
    covs = [
        coverage(discover([tmp_path]).get("funding:binance:BTCUSDT"), [tmp_path]),
        cover("reserve:aave_v3:USDT"),
    ]
    with pytest.raises(WindowError, match="do not overlap"):
        common_window(covs)


def test_coverage_is_fast_and_serialisable() -> None:
    clear_cache()
    began = time.perf_counter()
    every = coverages(CATALOGUE, [ROOT])
    cold = time.perf_counter() - began
    began = time.perf_counter()
    coverages(CATALOGUE, [ROOT])
    warm = time.perf_counter() - began
    assert cold < 2.0 and warm < 0.2, (cold, warm)
    document = json.loads(json.dumps([c.to_dict() for c in every]))
    binance = next(d for d in document if d["series"] == "bar:binance:BTCUSDT:perp")
    assert binance["gaps"][0] == {
        "start": "2024-02-10T01:00:00Z",
        "end": "2024-02-11T01:00:00Z",
        "missing": 23,
    }
    assert binance["interval_s"] == 3600 and binance["rows"] == 12829
