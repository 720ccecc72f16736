"""``basis replay``: rebuild a run from the event store alone and check it against its snapshots."""

from __future__ import annotations

from typing import Any

from basis.bus import subjects
from basis.bus.codec import decode
from basis.bus.errors import StoreError
from basis.bus.messages import RunStarted
from basis.bus.store import open_existing_store
from basis.components.pricing import PriceBook
from basis.projections.replay import replay
from basis.projections.run import verify


def replay_and_verify(run_id: str, store_url: str, share_class: str | None = None) -> dict[str, Any]:
    with open_existing_store(store_url) as store:
        info = store.run_info(run_id)
        if info is None:
            raise StoreError(f"no run {run_id!r} in {store_url}")
        started = next(
            (decode(r.data) for r in store.read(run_id=run_id, subject=subjects.evt("run", "started"))), None
        )
        prices = None
        if isinstance(started, RunStarted):
            share_class = share_class or started.share_class
            prices = PriceBook(references=started.price_references, perp_marks=started.perp_marks)  # type: ignore[arg-type]
        projection = replay(store, run_id, share_class or "USDT", prices=prices)
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
        return {"rebuilt": rebuilt, "differences": differences, "messages": info.messages}
