"""A backtest over processes recorded in PostgreSQL: ``basis replay`` rebuilds it from the store and
verifies it, and ``basis log digest`` recomputes the digest the run reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from basis.bus.embedded import EmbeddedNats

BASIS = [str(Path(sys.executable).parent / "basis")]


def basis(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BASIS, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_run_over_processes_in_postgresql_replays_and_verifies(
    postgres_url: str, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    window = ["--start", "2024-06-01", "--end", "2024-06-04"]
    ran = basis(
        "backtest", "--mode", "pure_lending_usdt", *window, "--out", str(out), "-q", "--no-report",
        "--processes", "--nats", nats_server.url, "--store", postgres_url,
        cwd=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["store"] == postgres_url

    replayed = basis("replay", summary["run_id"], "--store", postgres_url, cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stderr.startswith("verified: ")
    assert "checkpoints equal the views recomputed from the facts" in replayed.stderr
    assert json.loads(replayed.stdout)["equity"] == summary["final_equity"]

    digest = basis("log", "digest", summary["run_id"], "--store", postgres_url, cwd=tmp_path)
    assert digest.returncode == 0, digest.stderr
    assert digest.stdout.strip() == summary["log_digest"]
