"""Share classes: the currency a fund's shares are counted and reported in."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import Asset, ShareClassName, StrictModel


class ShareClassConfig(StrictModel):
    """``configs/share_classes/<NAME>.yaml``."""

    name: ShareClassName
    description: str = ""
    base_asset: Asset
    """The asset deposits and withdrawals are made in and equity is counted in."""
    market_neutral: bool
    """Whether modes of this class hedge price exposure by default (a mode may declare otherwise)."""
    decimals: Annotated[int, Field(ge=0, le=18)]
    """Precision of share and equity amounts (the token's on-chain decimals)."""
    reporting_currency: Asset
    """Currency P&L and NAV are reported in."""
