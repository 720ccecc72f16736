"""report.html in a real browser (headless Chromium over the DevTools protocol), and the figures the
report reads back from a run's log.

The browser test opens each mode's report from disk with the network off, waits for its script, and
checks what a person would: every chart has its data points drawn, a click on a legend entry hides
that series, and a click on a decision opens it to the very instructions the log holds for it. It
writes a full-page screenshot into the test's folder (and into ``$REPORT_SCREENSHOT_DIR`` when set:
docs/report-screenshot.png is the btc_basis one).

Needs Debian's ``chromium`` (``apt-get install chromium``; CI installs it). Without it the browser test
is skipped locally, and fails when ``CI=true``.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from backtestutil import MODES, FullRun, read_log
from websockets.asyncio.client import ClientConnection, connect

from basis.backtest.report_log import report_log_of
from basis.bus.messages import (
    Fill,
    FundingRate,
    Instruction,
    InstructionFilled,
    InstructionRejected,
    PerpTrade,
    RouteCompleted,
    Settled,
    StrategyDecided,
)

MIN_POINTS = 10
MAX_REPORT_BYTES = 8_000_000
"""plotly.js is ~4.8 MB of it."""
TIME_CHARTS = ("equity", "attribution", "rolling-apy", "risk")
FUNDING_CHARTS = ("funding", "funding-apr")
NS = 1_000_000_000


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
    browser = chromium()
    run = full_runs[mode]
    page_file = run.out / "report.html"
    assert 0 < page_file.stat().st_size < MAX_REPORT_BYTES
    process, socket_url = start_browser(browser, tmp_path / "profile")
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
            opened = await page.evaluate(
                f"(() => {{ const d = document.getElementById('{decision}'); return {{open: d.open,"
                " steps: [...d.querySelectorAll(':scope > ol.steps > li.step > code')].map(c => c.innerText),"
                " outcomes: [...d.querySelectorAll(':scope > ol.steps > li.step > ul.outcomes')]"
                ".map(u => u.innerText), visible: d.querySelector('ol.steps').offsetHeight > 0}; })()"
            )
            assert opened["open"] and opened["visible"], opened
            assert opened["steps"] == sent[decision]
            assert all(o.strip() and o.strip() != "no outcome in the log" for o in opened["outcomes"]), opened

            # a screenshot of the whole page
            height = await page.evaluate("document.documentElement.scrollHeight")
            await page.send(
                "Emulation.setDeviceMetricsOverride",
                width=1300,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            await page.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 300)))")
            shot = await page.send("Page.captureScreenshot", format="png")
            image = base64.b64decode(shot["data"])
            assert image.startswith(b"\x89PNG")
            (tmp_path / f"report-{mode}.png").write_bytes(image)
            target = os.environ.get("REPORT_SCREENSHOT_DIR")
            if target:
                (Path(target) / f"report-{mode}.png").write_bytes(image)
    finally:
        process.terminate()
        process.wait(timeout=30)


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
