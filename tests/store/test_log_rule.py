"""The log rule: every fact kept; views kept at the interval, at a risk-level change and at the end."""

from __future__ import annotations

import pytest

from basis.bus import subjects
from basis.bus.codec import encode
from basis.bus.messages import (
    Exposure,
    ExposureSnapshot,
    FundingRate,
    Message,
    PnlSnapshot,
    PositionSnapshot,
    RiskAssessment,
    RiskLevel,
)
from basis.bus.store import DAY_NS, LogRule, is_view, parse_interval

HOUR = 3_600 * 1_000_000_000
T0 = 1_714_521_600 * 1_000_000_000  # 2024-05-01T00:00:00Z


def row(message: Message) -> tuple[str, bytes]:
    return subjects.subject_of(message), encode(message)


def valuation(ts: int, level: RiskLevel = "ok", n: int = 0) -> list[tuple[str, bytes]]:
    """The four views of one valuation at ``ts``."""
    return [
        row(
            PositionSnapshot(
                id=f"p{n}", ts=ts, positions={"binance:BaseToken:USDT": 1.0 + n}, through=f"e{n}"
            )
        ),
        row(
            ExposureSnapshot(
                id=f"x{n}",
                ts=ts,
                share_class="USDT",
                exposures={
                    "binance:BaseToken:USDT": Exposure(
                        quantity=1.0 + n, asset="USDT", value_usd=1.0 + n, value_share=1.0 + n, delta=0.0
                    )
                },
                net_delta={},
                total_usd=1.0 + n,
                total_share=1.0 + n,
            )
        ),
        row(
            RiskAssessment(
                id=f"r{n}",
                ts=ts,
                level=level,
                margin_ratios={},
                health_factor=None,
                ltv=None,
                delta_drift=0.0,
            )
        ),
        row(
            PnlSnapshot(
                id=f"l{n}", ts=ts, share_class="USDT", equity=1.0, net_flows=1.0, pnl=0.0, attribution={}
            )
        ),
    ]


def funding(ts: int, n: int) -> tuple[str, bytes]:
    return row(FundingRate(id=f"f{n}", ts=ts, venue="binance", symbol="BTCUSDT", rate=0.0001))


def test_facts_are_always_kept_and_views_once_a_day_at_midnight() -> None:
    rule = LogRule()
    kept: list[str] = []
    for hour in range(48):
        ts = T0 + 23 * HOUR + hour * HOUR  # from 23:00 on the first day
        for subject, data in [funding(ts, hour), *valuation(ts, n=hour)]:
            if rule.keeps(subject, data):
                kept.append(f"{subject}@{(ts - T0) // HOUR}")
    facts = [k for k in kept if k.startswith("md.")]
    views = [k for k in kept if not k.startswith("md.")]
    assert len(facts) == 48
    # the first valuation (23:00, a new day for the rule), then 00:00 of the next two days
    assert views == [f"{s}@{h}" for h in (23, 24, 48) for s in subjects_of_views()]
    assert rule.views == 4 * 48 and rule.kept_views == 12
    # the end of the run: the last view of each kind, in the order published (23:00 + 47h = hour 70)
    assert [s for s, _ in rule.finish()] == subjects_of_views()
    assert rule.kept_views == 16
    assert rule.finish() == []


def subjects_of_views() -> list[str]:
    return [
        subjects.evt("positions", "snapshot"),
        subjects.evt("exposure", "snapshot"),
        subjects.evt("risk", "assessment"),
        subjects.evt("pnl", "snapshot"),
    ]


def test_a_risk_level_change_keeps_its_assessment_and_the_pnl_snapshot_after_it() -> None:
    rule = LogRule()
    levels: list[RiskLevel] = ["ok", "ok", "warning", "warning", "critical", "ok", "ok"]
    kept = []
    for hour, level in enumerate(levels):
        for subject, data in valuation(T0 + (1 + hour) * HOUR, level, hour):
            if rule.keeps(subject, data):
                kept.append((hour, subject.split(".")[1]))
    changes = [(h, kind) for h in (2, 4, 5) for kind in ("risk", "pnl")]
    assert kept == [(0, "positions"), (0, "exposure"), (0, "risk"), (0, "pnl"), *changes]


def test_the_last_views_already_kept_are_not_appended_again() -> None:
    rule = LogRule()
    rows = valuation(T0)
    assert all(rule.keeps(s, d) for s, d in rows)
    assert rule.finish() == []


def test_interval_zero_keeps_every_view_and_a_shorter_interval_keeps_more() -> None:
    every = LogRule(0)
    hourly = LogRule(parse_interval("6h"))
    kept_every = kept_hourly = 0
    for hour in range(24):
        for subject, data in valuation(T0 + hour * HOUR, n=hour):
            kept_every += every.keeps(subject, data)
            kept_hourly += hourly.keeps(subject, data)
    assert kept_every == 96
    assert kept_hourly == 16  # 00:00, 06:00, 12:00, 18:00
    assert every.finish() == []


def test_a_payload_the_rule_cannot_read_is_kept_for_the_recorder_to_judge() -> None:
    rule = LogRule()
    assert rule.keeps(subjects.evt("pnl", "snapshot"), b"{not json")
    assert rule.views == 0


def test_views_are_the_four_monitor_outputs() -> None:
    assert [is_view(s) for s in subjects_of_views()] == [True] * 4
    assert not is_view(subjects.evt("strategy", "decision"))
    assert not is_view(subjects.evt("binance", "funding"))
    assert not is_view("dlq.evt.pnl.snapshot")


@pytest.mark.parametrize(
    ("text", "ns"), [("1d", DAY_NS), ("6h", 6 * HOUR), ("90m", 90 * 60 * 10**9), ("30", 30 * 10**9), ("0", 0)]
)
def test_parse_interval(text: str, ns: int) -> None:
    assert parse_interval(text) == ns


def test_parse_interval_names_a_bad_value() -> None:
    with pytest.raises(
        ValueError, match=r"checkpoint interval '1w': expected a number and a unit s, m, h or d"
    ):
        parse_interval("1w")
