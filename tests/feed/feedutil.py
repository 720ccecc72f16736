"""Helpers of the feed tests: small data roots written to temp folders."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from pathlib import Path

from basis.data import DATA_ROOT

ROOT = DATA_ROOT
BAR_HEADER = ("timestamp", "open", "high", "low", "close", "volume")


def write_csv(root: Path, relative: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """Write a CSV (gzip when ``relative`` ends in .gz) under ``root`` and return its path."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ",".join(header) + "\n" + "".join(",".join(str(c) for c in row) + "\n" for row in rows)
    if relative.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def hours(day: str, count: int, start_hour: int = 0, step: int = 1) -> list[str]:
    """``count`` ISO times on ``day`` (YYYY-MM-DD) from ``start_hour``, ``step`` hours apart (may pass midnight)."""
    from datetime import datetime, timedelta

    first = datetime.fromisoformat(f"{day}T00:00:00") + timedelta(hours=start_hour)
    return [(first + timedelta(hours=step * i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(count)]


def readme_rows() -> dict[str, int]:
    """The ``rows`` column of the file table in the data README, by relative path (dated files only)."""
    rows: dict[str, int] = {}
    for line in (DATA_ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 4 and cells[1].startswith("`") and cells[3].isdigit():
            rows[cells[1].strip("`")] = int(cells[3])
    return rows
