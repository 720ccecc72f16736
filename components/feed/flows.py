"""Investor flows file (``--flows FILE``): CSV with the header ``timestamp,amount``.

``timestamp`` is ISO-8601 in UTC (``2024-03-01T00:00:00Z``; ``+00:00`` or no offset also read as UTC).
``amount`` is in the share-class currency: > 0 a deposit, < 0 a withdrawal, 0 is an error. Rows must be
in time order (equal times keep file order). Blank lines are skipped. Any problem raises
:class:`FlowsFileError`, one line naming the file, the line and the problem.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TypeAlias

from basis.bus.ids import IdFactory
from basis.bus.messages import InvestorDeposit, InvestorWithdrawal

from .errors import FlowsFileError
from .times import iso, parse_utc

HEADER = ("timestamp", "amount")
Flow: TypeAlias = InvestorDeposit | InvestorWithdrawal


def read_flows(path: Path | str, ids: IdFactory, *, asset: str) -> list[Flow]:
    """Every flow of ``path`` as :class:`InvestorDeposit` / :class:`InvestorWithdrawal` (amounts > 0)."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise FlowsFileError(path, None, f"cannot open: {exc.strerror or exc}") from None
    flows: list[Flow] = []
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise FlowsFileError(path, None, "empty file: expected the header 'timestamp,amount'")
            if tuple(c.strip().lower() for c in header) != HEADER:
                raise FlowsFileError(path, 1, f"header is {','.join(header)!r}, expected 'timestamp,amount'")
            previous: int | None = None
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                line = reader.line_num
                if len(row) != 2:
                    raise FlowsFileError(path, line, f"expected 2 fields (timestamp,amount), got {len(row)}")
                try:
                    ts = parse_utc(row[0].strip(), naive_is_utc=True)
                except ValueError as exc:
                    raise FlowsFileError(path, line, f"bad timestamp: {exc}") from None
                try:
                    amount = float(row[1])
                except ValueError:
                    raise FlowsFileError(path, line, f"bad amount {row[1]!r}: not a number") from None
                if not math.isfinite(amount) or amount == 0:
                    raise FlowsFileError(
                        path, line, f"bad amount {row[1]!r}: must be a non-zero finite number"
                    )
                if previous is not None and ts < previous:
                    raise FlowsFileError(
                        path, line, f"timestamp {iso(ts)} is before the previous row's {iso(previous)}"
                    )
                previous = ts
                cls = InvestorDeposit if amount > 0 else InvestorWithdrawal
                flows.append(cls(id=ids.next_id(), ts=ts, amount=abs(amount), asset=asset))
        except csv.Error as exc:
            raise FlowsFileError(path, reader.line_num, f"not valid CSV: {exc}") from None
        except UnicodeDecodeError:
            raise FlowsFileError(path, None, "not UTF-8 text") from None
    return flows
