"""The compiled build (a wheel, whose hot modules mypyc compiles: setup.py) publishes exactly the log that
pure Python publishes: the wheel is built from this checkout, its modules run in another process, and
the three modes' digests over short windows must equal the ones of the pure-Python modules here."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from backtestutil import utc_ns

import basis
from basis.backtest import Backtest, BacktestRequest

REPO = Path(__file__).resolve().parents[2]
WINDOWS = {
    "btc_basis": ("2024-06-01", "2024-06-15"),
    "eth_basis": ("2024-08-05", "2024-08-19"),
    "pure_lending_usdt": ("2024-06-01", "2024-07-01"),
}
RUN = """
import asyncio, json, sys
from pathlib import Path
import basis
from basis.backtest import Backtest, BacktestRequest
jobs = json.loads(sys.argv[1])
digests = {}
for mode, (start, end, out) in jobs.items():
    request = BacktestRequest(mode=mode, start=start, end=end, out=Path(out), report=False)
    digests[mode] = asyncio.run(Backtest(request).run())["log_digest"]
print(json.dumps({"compiled": basis.compiled(), "file": basis.__file__, "digests": digests}))
"""


@pytest.mark.slow
def test_the_compiled_wheel_writes_the_same_log_as_pure_python(tmp_path: Path) -> None:
    if basis.compiled():
        pytest.skip("this environment runs the compiled build: there is no pure-Python run to compare with")
    wheels = tmp_path / "wheels"
    env = {**os.environ, "BASIS_COMPILE": "1"}
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("basis-*.whl")
    assert "-py3-none-any" not in wheel.name, f"{wheel.name} holds no compiled module"
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)

    jobs = {
        mode: (utc_ns(start), utc_ns(end), str(tmp_path / f"compiled-{mode}"))
        for mode, (start, end) in WINDOWS.items()
    }
    # the unpacked wheel comes first on the path, ahead of this checkout's editable install
    run = subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(jobs)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(installed)},
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    compiled = json.loads(run.stdout.strip().splitlines()[-1])
    assert compiled["compiled"] is True and compiled["file"].startswith(str(installed))

    for mode, (start, end, _) in jobs.items():
        request = BacktestRequest(
            mode=mode, start=start, end=end, out=tmp_path / f"pure-{mode}", report=False
        )
        pure = asyncio.run(Backtest(request).run())["log_digest"]
        assert compiled["digests"][mode] == pure, mode
