"""report.html rendered by a real browser (headless Chromium): the page's script ran and drew its charts.

Needs Debian's ``chromium`` (``apt-get install chromium``; CI installs it). Without it the test is
skipped locally, and fails when ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from backtestutil import MODES, FullRun

CHARTS = ("equity", "attribution", "risk")
MIN_POINTS = 10


def chromium() -> str:
    found = shutil.which("chromium") or next((p for p in ("/usr/bin/chromium",) if Path(p).is_file()), None)
    if found is None:
        reason = "headless Chromium not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true needs it")
        pytest.skip(reason)
    return found


class Dom(HTMLParser):
    """The parts of the rendered DOM the test looks at."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.charts: dict[str, list[dict[str, str | None]]] = {}
        self._chart: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "body":
            self.body = attributes
        elif tag == "svg":
            self._chart = attributes.get("data-chart")
            if self._chart is not None:
                self.charts.setdefault(self._chart, [])
        elif tag == "polyline" and self._chart is not None:
            self.charts[self._chart].append(attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._chart = None


@pytest.mark.parametrize("mode", MODES)
def test_report_renders_its_charts(full_runs: dict[str, FullRun], tmp_path: Path, mode: str) -> None:
    browser = chromium()
    page = full_runs[mode].out / "report.html"
    assert page.is_file()
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]

    dom = Dom()
    dom.feed(done.stdout)
    assert dom.body.get("data-rendered") == "yes", f"the page's script did not finish: body {dom.body}"
    for chart in CHARTS:
        lines = dom.charts.get(chart)
        assert lines, f"no svg[data-chart={chart}] with a polyline in the rendered page"
        for line in lines:
            points = int(line.get("data-points") or 0)
            assert points > MIN_POINTS, f"{chart}: series {line.get('data-name')} has {points} points"
            assert len((line.get("points") or "").split()) == points
