"""Canonical instrument keys: ``venue:position_type:symbol``.

Examples: ``aave_v3:aToken:aUSDT``, ``aave_v3:debtToken:debtWETH``, ``binance:Perp:BTCUSDT``,
``binance:BaseToken:BTC``, ``wallet:BaseToken:USDT``, ``etherfi:BaseToken:weETH``,
``binance:PerpNotional:BTCUSDT`` (the USDT counter-leg of a perp position, see docs/accounting.md).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

PositionType = Literal["BaseToken", "aToken", "debtToken", "Perp", "PerpNotional"]
POSITION_TYPES: tuple[str, ...] = ("BaseToken", "aToken", "debtToken", "Perp", "PerpNotional")


class InstrumentKey(NamedTuple):
    venue: str
    position_type: str
    symbol: str

    def __str__(self) -> str:
        return f"{self.venue}:{self.position_type}:{self.symbol}"


def key(venue: str, position_type: PositionType, symbol: str) -> str:
    return f"{venue}:{position_type}:{symbol}"


_PARSED: dict[str, InstrumentKey] = {}
_PARSED_LIMIT = 100_000


def parse(text: str) -> InstrumentKey:
    """Split and check a key (each distinct key is checked once, then answered from a memo)."""
    parsed = _PARSED.get(text)
    if parsed is not None:
        return parsed
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"invalid instrument key {text!r}: expected venue:position_type:symbol")
    if parts[1] not in POSITION_TYPES:
        raise ValueError(
            f"invalid instrument key {text!r}: position type must be one of {', '.join(POSITION_TYPES)}"
        )
    parsed = InstrumentKey(*parts)
    if len(_PARSED) < _PARSED_LIMIT:
        _PARSED[text] = parsed
    return parsed


def token(venue: str, asset: str) -> str:
    """A plain token balance held at ``venue`` (a CEX account or the on-chain wallet)."""
    return key(venue, "BaseToken", asset)


def perp(venue: str, symbol: str) -> str:
    return key(venue, "Perp", symbol)


def in_transit(asset: str) -> str:
    """Funds that left one account and have not yet arrived at the next (see docs/accounting.md)."""
    return key("transit", "BaseToken", asset)


def perp_notional(venue: str, symbol: str) -> str:
    """The quote-currency counter-leg of a perp position (see docs/accounting.md)."""
    return key(venue, "PerpNotional", symbol)


def a_token(asset: str, venue: str = "aave_v3") -> str:
    return key(venue, "aToken", f"a{asset}")


def debt_token(asset: str, venue: str = "aave_v3") -> str:
    return key(venue, "debtToken", f"debt{asset}")
