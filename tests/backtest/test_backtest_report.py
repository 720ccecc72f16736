"""report.html in a real browser (headless Chromium over the DevTools protocol), and the figures the
report reads back from a run's log.

The browser tests open a report from disk with the network off, wait for its script, and check what a
person would. For each mode: every chart has its data points drawn, a click on a legend entry hides
that series, and a click on a decision opens it to the very instructions the log holds for it. For a
short stressed usdt_eth_staking_hedged_leveraged run: the timeline draws one marker per transfer and
per emergency action in the log, a hover on an emergency shows what it found and did, the risk panels
are there, and the page says the scenario was survived. Each writes a full-page screenshot into the
test's folder (and into ``$REPORT_SCREENSHOT_DIR`` when set: docs/report-screenshot.png is the
btc_basis one, docs/report-hedged-screenshot.png the stressed hedged one).

Needs Debian's ``chromium`` (``apt-get install chromium``; CI installs it). Without it the browser test
is skipped locally, and fails when ``CI=true``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from backtestutil import MODES, FullRun, read_log, run_cli
from websockets.asyncio.client import ClientConnection, connect

from basis.backtest.report import stress_banner
from basis.backtest.report_log import report_log_of
from basis.backtest.report_timeline import timeline
from basis.bus.messages import (
    AtomicBundle,
    EmergencyAction,
    EmergencySource,
    Fill,
    FlashLoan,
    FundingRate,
    Instruction,
    InstructionFilled,
    InstructionRejected,
    PerpTrade,
    RebalanceAssessed,
    RouteCompleted,
    Settled,
    Stake,
    Step,
    StrategyDecided,
    Transfer,
    TransferCompleted,
)

MIN_POINTS = 10
MAX_REPORT_BYTES = 8_000_000
"""plotly.js is ~4.8 MB of it."""
TIME_CHARTS = ("equity", "attribution", "rolling-apy", "risk")
FUNDING_CHARTS = ("funding", "funding-apr")
NS = 1_000_000_000
HEDGE_VENUES = ("binance", "bybit", "okx")
NET_DELTA = "net delta (|Δ|·price ÷ equity)"
RISK_SERIES = {
    "usdt_eth_staking_hedged_simple": {*(f"margin ratio {v}" for v in HEDGE_VENUES), NET_DELTA},
    "usdt_eth_staking_hedged_leveraged": {
        *(f"margin ratio {v}" for v in HEDGE_VENUES),
        "health factor",
        "LTV",
        NET_DELTA,
    },
}
"""The risk panels each hedged mode's report must draw."""
STRESSED_ARGS = (
    "backtest",
    "--mode",
    "usdt_eth_staking_hedged_leveraged",
    "--start",
    "2024-08-12",
    "--end",
    "2024-08-25",
    "--stress",
    "eth_spike@2024-08-20",
    "--set",
    "stake_allocation_percentage=0.7",
)
"""70% staked leaves a margin buffer the spike eats into: cex_margin and imbalance emergencies, and many
transfers."""


def chromium() -> str:
    found = shutil.which("chromium") or next((p for p in ("/usr/bin/chromium",) if Path(p).is_file()), None)
    if found is None:
        reason = "headless Chromium not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true needs it")
        pytest.skip(reason)
    return found


class Page:
    """One browser tab driven over the DevTools protocol."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        await self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            answer = json.loads(await self.socket.recv())
            if answer.get("id") == number:
                assert "error" not in answer, f"{method}: {answer['error']}"
                result: dict[str, Any] = answer["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            assert time.monotonic() < deadline, f"still false after {timeout:g} s: {expression}"
            await asyncio.sleep(0.1)

    async def click(self, selector: str) -> None:
        """A real mouse click at the middle of the first element matching ``selector``."""
        box = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        assert box is not None, f"nothing matches {selector}"
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


def start_browser(browser: str, profile: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Chromium with the DevTools protocol on a free port; the websocket of its blank tab."""
    process = subprocess.Popen(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--window-size=1300,1000",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while not port_file.is_file() or not port_file.read_text().strip():
        assert process.poll() is None, "chromium exited at start"
        assert time.monotonic() < deadline, "chromium did not open its DevTools port"
        time.sleep(0.1)
    port = port_file.read_text().split()[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
        targets = json.load(answer)
    return process, next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")


@contextlib.asynccontextmanager
async def opened(page_file: Path, profile: Path) -> AsyncIterator[Page]:
    """``page_file`` in a new headless Chromium with the network off, once its script has drawn it."""
    process, socket_url = start_browser(chromium(), profile)
    try:
        async with connect(socket_url, max_size=None) as socket:
            page = Page(socket)
            await page.send("Network.enable")
            await page.send(
                "Network.emulateNetworkConditions",
                offline=True,
                latency=0,
                downloadThroughput=-1,
                uploadThroughput=-1,
            )
            await page.send("Page.navigate", url=page_file.resolve().as_uri())
            await page.wait_for("document.body && document.body.getAttribute('data-rendered') === 'yes'")
            yield page
    finally:
        process.terminate()
        process.wait(timeout=30)


async def screenshot(page: Page, folder: Path, name: str) -> None:
    """The whole page as ``folder/name`` (and in ``$REPORT_SCREENSHOT_DIR`` when set)."""
    height = await page.evaluate("document.documentElement.scrollHeight")
    await page.send(
        "Emulation.setDeviceMetricsOverride", width=1300, height=height, deviceScaleFactor=1, mobile=False
    )
    await page.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 300)))")
    shot = await page.send("Page.captureScreenshot", format="png")
    image = base64.b64decode(shot["data"])
    assert image.startswith(b"\x89PNG")
    (folder / name).write_bytes(image)
    target = os.environ.get("REPORT_SCREENSHOT_DIR")
    if target:
        (Path(target) / name).write_bytes(image)


MARKERS_JS = """
Object.fromEntries([...document.querySelectorAll('#chart-equity .scatterlayer .trace')]
  .filter(g => g.__data__[0].trace.mode === 'markers')
  .map(g => [g.__data__[0].trace.name, g.querySelectorAll('.points path').length]))
"""
"""The markers drawn on the equity chart's timeline, per series of markers."""

CHARTS_JS = """
[...document.querySelectorAll('div.chart')].map(gd => ({
  id: gd.id.replace('chart-', ''),
  traces: gd._fullData.map((trace, i) => ({
    name: trace.name,
    type: trace.type,
    points: (gd.calcdata[i] || []).filter(p => p.y !== undefined && p.y !== null && !Number.isNaN(p.y)).length,
  })),
  drawn: gd.querySelectorAll('.scatterlayer .trace path.js-line, .scatterlayer .trace .points path, .barlayer .point').length,
}))
"""


@pytest.mark.parametrize("mode", MODES)
async def test_report_in_a_browser(full_runs: dict[str, FullRun], tmp_path: Path, mode: str) -> None:
    run = full_runs[mode]
    page_file = run.out / "report.html"
    assert 0 < page_file.stat().st_size < MAX_REPORT_BYTES
    async with opened(page_file, tmp_path / "profile") as page:
        # every chart has its data points, drawn
        charts = {c["id"]: c for c in await page.evaluate(CHARTS_JS)}
        funded = bool(run.summary["funding_by_venue"])
        assert set(charts) == set(TIME_CHARTS) | (set(FUNDING_CHARTS) if funded else set()), charts.keys()
        for name, chart in charts.items():
            assert chart["drawn"] > 0, f"{name}: nothing drawn"
            series = [t for t in chart["traces"] if t["name"] not in ("APY over the run",)]
            needed = 1 if name == "funding-apr" else MIN_POINTS
            assert any(t["points"] >= needed for t in series), f"{name}: {series}"
            for trace in series:
                assert trace["points"] > 0, f"{name}: series {trace['name']} has no point"
        risk = {t["name"] for t in charts["risk"]["traces"] if t["points"] >= MIN_POINTS}
        assert RISK_SERIES.get(mode, set()) <= risk, risk

        # a click on a legend entry hides its series
        before = await page.evaluate("document.getElementById('chart-attribution').data[0].visible")
        assert before in (None, True)
        await page.click("#chart-attribution .legend .traces .legendtoggle")
        await page.wait_for(
            "document.getElementById('chart-attribution').data[0].visible === 'legendonly'", 5
        )
        hidden = await page.evaluate(CHARTS_JS)
        shown_lines = next(c["drawn"] for c in hidden if c["id"] == "attribution")
        assert shown_lines < charts["attribution"]["drawn"]
        await page.click("#chart-attribution .legend .traces .legendtoggle")  # and shows it again
        await page.wait_for("document.getElementById('chart-attribution').data[0].visible === true", 5)

        # a decision opens to the instructions the log holds for it
        sent: dict[str, list[str]] = {}
        for _, _, message in read_log(run.store_url, run.run_id, "cmd.>"):
            if isinstance(message, Instruction):
                sent.setdefault(message.causation_id, []).append(message.describe())
        decision = await page.evaluate(
            "(() => { const d = [...document.querySelectorAll('details.decision')]"
            ".find(d => d.querySelector('ol.steps')); return d ? d.id : null; })()"
        )
        assert decision is not None, "no decision with instructions in the report"
        assert sent.get(decision), f"{decision}: the log has no instruction caused by it"
        month = f"details.month:has(> details.decision[id='{decision}']) > summary"
        await page.click(month)
        await page.click(f"details.decision[id='{decision}'] > summary")
        shown = await page.evaluate(
            f"(() => {{ const d = document.getElementById('{decision}'); return {{open: d.open,"
            " steps: [...d.querySelectorAll(':scope > ol.steps > li.step > code')].map(c => c.innerText),"
            " outcomes: [...d.querySelectorAll(':scope > ol.steps > li.step > ul.outcomes')]"
            ".map(u => u.innerText), visible: d.querySelector('ol.steps').offsetHeight > 0}; })()"
        )
        assert shown["open"] and shown["visible"], shown
        assert shown["steps"] == sent[decision]
        assert all(o.strip() and o.strip() != "no outcome in the log" for o in shown["outcomes"]), shown

        await screenshot(page, tmp_path, f"report-{mode}.png")


@pytest.fixture(scope="module")
def stressed_run(tmp_path_factory: pytest.TempPathFactory) -> FullRun:
    """A short usdt_eth_staking_hedged_leveraged run through an ETH spike (outputs in ``./out``)."""
    cwd = tmp_path_factory.mktemp("stressed-hedged")
    return FullRun("usdt_eth_staking_hedged_leveraged", cwd, run_cli(STRESSED_ARGS, cwd))


async def test_hedged_report_draws_every_transfer_and_emergency(
    stressed_run: FullRun, tmp_path: Path
) -> None:
    """The timeline of a stressed hedged run: one marker per transfer the venues were asked to make, per
    EmergencyAction (in its protocol's row) and per RebalanceAssessed (in its answer's row) in the log, a
    hover on an emergency that says what it found and did, every risk panel, and a banner that says the
    scenario was survived."""
    summary = stressed_run.summary
    transfers: collections.Counter[str] = collections.Counter()
    emergencies: collections.Counter[str] = collections.Counter()
    verdicts: collections.Counter[str] = collections.Counter()
    arrived = 0
    for _, _, message in read_log(stressed_run.store_url, stressed_run.run_id):
        match message:
            case Instruction(action=Transfer(asset=asset)) if message.venue != "router":
                transfers[f"transfer {asset}"] += 1
            case EmergencyAction(protocol=protocol):
                emergencies[f"emergency: {protocol}"] += 1
            case RebalanceAssessed(answer=answer):
                verdicts[f"verdict: {answer}"] += 1
            case TransferCompleted():
                arrived += 1
    assert {"emergency: cex_margin", "emergency: imbalance"} <= set(emergencies), emergencies
    assert sum(transfers.values()) == arrived > 20, (transfers, arrived)

    async with opened(stressed_run.out / "report.html", tmp_path / "profile") as page:
        markers = await page.evaluate(MARKERS_JS)
        assert {k: v for k, v in markers.items() if k.startswith("transfer ")} == dict(transfers), markers
        assert {k: v for k, v in markers.items() if k.startswith("emergency: ")} == dict(emergencies), markers
        assert {k: v for k, v in markers.items() if k.startswith("verdict: ")} == dict(verdicts), markers
        assert "liquidation" not in markers, markers
        legend = await page.evaluate(
            "[...document.querySelectorAll('#chart-equity .legend .traces')].map(t => t.__data__[0].trace.name)"
        )
        assert len(legend) == len(set(legend)), legend

        # a hover on the first emergency says what it found and what it did
        point = await page.evaluate(
            "(() => { const g = [...document.querySelectorAll('#chart-equity .scatterlayer .trace')]"
            ".find(g => g.__data__[0].trace.name === 'emergency: cex_margin');"
            " const p = g.querySelector('.points path'); p.scrollIntoView({block: 'center'});"
            " const r = p.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        await page.send("Input.dispatchMouseEvent", type="mouseMoved", x=point[0], y=point[1])
        hover = await page.wait_for(
            "(() => { const h = document.querySelector('#chart-equity .hoverlayer .hovertext');"
            " return h ? h.textContent : ''; })()",
            5,
        )
        for said in (
            "emergency cex_margin at ",
            "trigger: margin_ratio:",
            "shortfall: ",
            "sources",
            "action: ",
        ):
            assert said in hover, hover

        charts = {c["id"]: c for c in await page.evaluate(CHARTS_JS)}
        risk = {t["name"] for t in charts["risk"]["traces"] if t["points"] >= MIN_POINTS}
        assert RISK_SERIES[stressed_run.mode] <= risk, risk

        banner = await page.evaluate("document.querySelector('header .stress.survived').innerText")
        assert banner.startswith("Stress scenario eth_spike from 2024-08-20T00:00:00Z"), banner
        assert "Survived: nothing was liquidated." in banner, banner
        assert summary["stress"]["liquidated"] is False

        await screenshot(page, tmp_path, "report-hedged-screenshot.png")


def test_stress_banner_says_whether_the_scenario_was_survived() -> None:
    stress = {
        "scenario": "eth_crash",
        "description": "ETH -30% within one day, no recovery",
        "start": "2024-08-05T00:00:00Z",
        "liquidated": True,
        "liquidation_loss": -12_345.678,
    }
    failed = stress_banner({"share_class": "USDT", "stress": stress})
    assert failed == (
        '<div class="stress not-survived">Stress scenario <b>eth_crash</b> from 2024-08-05T00:00:00Z: ETH -30%'
        " within one day, no recovery. <b>Not survived: liquidated, loss 12,345.68 USDT attributed to"
        " liquidation.</b></div>"
    )
    survived = stress_banner(
        {"share_class": "USDT", "stress": stress | {"liquidated": False, "liquidation_loss": 0.0}}
    )
    assert survived.endswith("<b>Survived</b>: nothing was liquidated.</div>"), survived
    assert stress_banner({"share_class": "USDT", "stress": None}) == ""


def test_report_log_times_moves_and_links_emergencies_and_verdicts() -> None:
    """A transfer is sent by the venue's instruction and completed by its TransferCompleted, a bundle by
    its fill; a routed instruction is not a move of its own. An emergency and a verdict belong to the
    decision of their instant, which lists them."""
    t0 = 1_700_000_000 * NS
    hour = 3_600 * NS
    move = Transfer(source="wallet", destination="binance", asset="USDT", amount=1_000.0)
    bundle = AtomicBundle(
        steps=(Step(venue="etherfi", action=Stake(token="weETH", amount=2.0)),),
        flash_loan=FlashLoan(venue="morpho", asset="WETH", amount=1.0),
    )
    emergency = EmergencyAction(
        id="s.1",
        ts=t0,
        protocol="cex_margin",
        trigger="margin_ratio:binance 0.29 < warning 0.3",
        venue="binance",
        shortfall_usd=1_000.0,
        sources=(EmergencySource(name="wallet", available_usd=5_000.0, used_usd=1_000.0, note="USDT"),),
        action="top up binance from the wallet",
    )
    verdict = RebalanceAssessed(
        id="s.2",
        ts=t0,
        proposal="move 1,000 USDT wallet → binance",
        answer="EXECUTE",
        reasons=("required by cex_margin",),
        yield_before_usd=100.0,
        yield_after_usd=90.0,
        cost_usd=1.0,
        horizon_days=30.0,
        margin=0.1,
        gain_usd=-1.0,
        required_by="cex_margin",
    )
    messages = [
        emergency,
        verdict,
        StrategyDecided(id="s.3", ts=t0, causation_id="s.1", action="hold", reason="emergency", target={}),
        Instruction(id="s.4", ts=t0, causation_id="s.3", correlation_id="s.3", venue="router", action=move),
        Instruction(id="r.1", ts=t0, causation_id="s.4", correlation_id="s.3", venue="wallet", action=move),
        InstructionFilled(
            id="v.1",
            ts=t0,
            instruction_id="r.1",
            venue="wallet",
            changes=(Fill(instrument="wallet:BaseToken:USDT", delta=-1_000.0, price=0.0),),
        ),
        TransferCompleted(
            id="v.2",
            ts=t0 + hour,
            instruction_id="r.1",
            source="wallet",
            destination="binance",
            asset="USDT",
            amount=1_000.0,
        ),
        Instruction(
            id="s.5", ts=t0, causation_id="s.3", correlation_id="s.3", venue="instadapp", action=bundle
        ),
        InstructionFilled(id="v.3", ts=t0 + 60 * NS, instruction_id="s.5", venue="instadapp", changes=()),
        Instruction(id="s.6", ts=t0, causation_id="s.3", correlation_id="s.3", venue="okx", action=move),
        InstructionRejected(
            id="v.4", ts=t0, instruction_id="s.6", venue="okx", reason="insufficient_balance"
        ),
    ]
    log = report_log_of(messages, (t0, t0 + 24 * hour))

    transfer, flash, refused = log.moves
    assert (transfer.id, transfer.sent, transfer.completed, transfer.status, transfer.decision) == (
        "r.1",
        t0,
        t0 + hour,
        "completed",
        "s.3",
    )
    assert transfer.describe() == "wallet → binance 1,000 USDT"
    assert (flash.kind, flash.completed, flash.status) == ("bundle", t0 + 60 * NS, "completed")
    assert flash.describe() == "flash loan 1 WETH (morpho); etherfi stake 2 ETH → weETH"
    assert (refused.completed, refused.status, refused.detail) == (None, "rejected", "insufficient_balance")
    assert [(f.event.id, f.decision) for f in (*log.emergencies, *log.verdicts)] == [
        ("s.1", "s.3"),
        ("s.2", "s.3"),
    ]
    [decision] = log.decisions
    assert decision.acted_on == [emergency, verdict]

    groups = {g.title: g for g in timeline(log)}
    assert list(groups) == [
        "decisions",
        "emergency actions",
        "optimizer verdicts",
        "transfers and on-chain moves",
    ]
    assert groups["optimizer verdicts"].rows == ["EXECUTE"]
    [marks] = groups["optimizer verdicts"].traces
    assert (marks["name"], marks["customdata"]) == ("verdict: EXECUTE", ["s.3"])
    assert marks["text"][0].startswith(
        "EXECUTE: move 1,000 USDT wallet → binance, 2023-11-14 22:13<br>  · required by"
    )
    moves = groups["transfers and on-chain moves"]
    assert moves.rows == ["transfer USDT", "bundle"]
    usdt = next(t for t in moves.traces if t["name"] == "transfer USDT")
    assert usdt["marker"]["symbol"] == ["triangle-right", "x"]
    in_flight = next(t for t in moves.traces if t["name"] == "transfer USDT in flight")
    assert in_flight["x"] == [t0 // 1_000_000, (t0 + hour) // 1_000_000, None]
    [cex] = groups["emergency actions"].traces
    assert "trigger: margin_ratio:binance 0.29 &lt; warning 0.3" in cex["text"][0]


def test_report_log_groups_a_decision_and_prices_its_funding() -> None:
    """What followed a decision sits under it (the router's instructions under the strategy's), and a
    venue's realised funding APR is Σ funding ÷ Σ notional × interval ÷ one year."""
    t0 = 1_700_000_000 * NS
    hour = 3_600 * NS
    order = PerpTrade(symbol="BTCUSDT", side="sell", quantity=0.1)
    messages = [
        StrategyDecided(id="s.1", ts=t0, action="entry_full", reason="capital arrived", target={}),
        Instruction(id="s.2", ts=t0, causation_id="s.1", correlation_id="s.1", venue="router", action=order),
        Instruction(id="r.1", ts=t0, causation_id="s.2", correlation_id="s.1", venue="okx", action=order),
        InstructionFilled(
            id="v.1",
            ts=t0,
            instruction_id="r.1",
            venue="okx",
            changes=(Fill(instrument="okx:Perp:BTCUSDT", delta=-0.1, price=50_000.0),),
            fee=2.5,
            fee_asset="USDT",
        ),
        RouteCompleted(id="r.2", ts=t0, instruction_id="s.2", filled=True),
        Instruction(id="s.3", ts=t0, causation_id="s.1", correlation_id="s.1", venue="bybit", action=order),
        InstructionRejected(
            id="v.2", ts=t0, instruction_id="s.3", venue="bybit", reason="insufficient_margin"
        ),
        # 5,000 USDT short: +0.0001 pays 0.5, then a zero rate (same notional, nothing paid), then 4h at
        # +0.0002 on 2,500 USDT pays 0.5
        FundingRate(id="m.1", ts=t0 + 8 * hour, venue="okx", symbol="BTCUSDT", rate=0.0001),
        Settled(
            id="v.3",
            ts=t0 + 8 * hour,
            causation_id="m.1",
            venue="okx",
            instrument="okx:BaseToken:USDT",
            kind="funding",
            amount=0.5,
            asset="USDT",
        ),
        FundingRate(id="m.2", ts=t0 + 16 * hour, venue="okx", symbol="BTCUSDT", rate=0.0),
        Settled(
            id="v.4",
            ts=t0 + 16 * hour,
            causation_id="m.2",
            venue="okx",
            instrument="okx:BaseToken:USDT",
            kind="funding",
            amount=0.0,
            asset="USDT",
        ),
        FundingRate(
            id="m.3", ts=t0 + 20 * hour, venue="okx", symbol="BTCUSDT", rate=0.0002, interval_hours=4
        ),
        Settled(
            id="v.5",
            ts=t0 + 20 * hour,
            causation_id="m.3",
            venue="okx",
            instrument="okx:BaseToken:USDT",
            kind="funding",
            amount=0.5,
            asset="USDT",
        ),
        FundingRate(id="m.4", ts=t0 + 30 * hour, venue="okx", symbol="BTCUSDT", rate=0.0003),
    ]
    log = report_log_of(messages, (t0, t0 + 24 * hour))

    [decision] = log.decisions
    assert (decision.action, decision.reason, decision.status) == (
        "entry_full",
        "capital arrived",
        "rejected",
    )
    routed, direct = decision.steps
    assert (routed.venue, routed.status, routed.outcomes) == ("router", "filled", ["route filled"])
    [child] = routed.children
    assert child.text == "perp_trade(symbol=BTCUSDT, side=sell, quantity=0.1)@okx"
    assert child.outcomes == ["filled: okx:Perp:BTCUSDT -0.1; fee 2.5 USDT"]
    assert (direct.status, direct.outcomes) == ("rejected", ["rejected: insufficient_margin"])

    okx = log.funding["okx"]
    assert okx.cumulative == [0.5, 0.5, 1.0]
    year = 365 * 24
    notional_years = 5_000 * 8 / year + 5_000 * 8 / year + 2_500 * 4 / year
    assert okx.realised_apr == pytest.approx(1.0 / notional_years, rel=1e-12)
    assert okx.average_rate_apr == pytest.approx((0.0001 * year / 8 + 0 + 0.0002 * year / 4) / 3, rel=1e-12)
