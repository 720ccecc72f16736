"""Fixtures of the backtest acceptance tests.

``full_runs``
    Every shipped mode that backtests (``MODES``) backtested ONCE per test session
    over their whole default window, through the ``basis`` command line in subprocesses started side by
    side, each in its own temp folder with no flag but ``--mode`` (so the outputs land in ``./out``).
    Maps a mode to its :class:`FullRun`; tests must treat the outputs as read-only.
"""

from __future__ import annotations

import pytest
from backtestutil import MODES, FullRun, finish, start_cli


@pytest.fixture(scope="session")
def full_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FullRun]:
    base = tmp_path_factory.mktemp("full-runs")
    started = {}
    for mode in MODES:
        cwd = base / mode
        cwd.mkdir()
        args = ["backtest", "--mode", mode]
        started[mode] = (cwd, args, start_cli(args, cwd))
    return {mode: FullRun(mode, cwd, finish(process, args)) for mode, (cwd, args, process) in started.items()}
