"""``basis replay``: rebuild a run from the facts in the event store alone, recompute every view at every
valuation, and check each stored checkpoint and the final state against them."""

from __future__ import annotations

from typing import Any

from basis.bus import subjects
from basis.bus.codec import decode
from basis.bus.errors import StoreError
from basis.bus.messages import RunStarted
from basis.bus.store import open_existing_store
from basis.components.pricing import PriceBook
from basis.components.risk_monitor import RiskBook
from basis.projections.replay import replay
from basis.projections.run import verify
from basis.projections.views import risk_book_of


def replay_and_verify(run_id: str, store_url: str, share_class: str | None = None) -> dict[str, Any]:
    with open_existing_store(store_url) as store:
        info = store.run_info(run_id)
        if info is None:
            raise StoreError(f"no run {run_id!r} in {store_url}")
        started = next(
            (decode(r.data) for r in store.read(run_id=run_id, subject=subjects.evt("run", "started"))), None
        )
        prices = None
        risk: RiskBook | None = None
        if isinstance(started, RunStarted):
            share_class = share_class or started.share_class
            prices = PriceBook(references=started.price_references, perp_marks=started.perp_marks)  # type: ignore[arg-type]
            if started.config:
                risk = risk_book_of(started.config, prices)
        projection = replay(store, run_id, share_class or "USDT", prices=prices, risk=risk)
        differences = verify(projection)
        fields = projection.pnl.snapshot_fields()
        rebuilt = {
            "run_id": run_id,
            "share_class": fields["share_class"],
            "equity": fields["equity"],
            "net_flows": fields["net_flows"],
            "pnl": fields["pnl"],
            "attribution": fields["attribution"],
            "positions": projection.positions.positions,
        }
        views = projection.views
        return {
            "rebuilt": rebuilt,
            "differences": differences,
            "messages": info.messages,
            "valuations": views.valuations,
            "checkpoints": views.checked,
            "risk_checked": risk is not None,
        }
