"""Shared pieces of every configuration model: the strict base class and the small value types."""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal, get_args

from eth_utils.address import is_checksum_address, to_checksum_address
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from ..errors import ConfigValidationError, Issue

VenueName = Literal[
    "binance", "bybit", "okx", "aave_v3", "lido", "etherfi", "morpho", "instadapp", "uniswap", "alchemy"
]
VENUE_NAMES: Final[tuple[VenueName, ...]] = get_args(VenueName)

CexVenueName = Literal["binance", "bybit", "okx"]
CEX_VENUE_NAMES: Final[tuple[CexVenueName, ...]] = get_args(CexVenueName)

EnvironmentName = Literal["live", "testnet", "simulation"]
ENVIRONMENT_NAMES: Final[tuple[EnvironmentName, ...]] = get_args(EnvironmentName)

Asset = Literal["USDT", "BTC", "ETH"]
LstType = Literal["weETH", "wstETH"]

LST_VENUES: Final[dict[LstType, VenueName]] = {"weETH": "etherfi", "wstETH": "lido"}
"""The venue that issues each liquid staking token."""

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]*$")]
"""A mode name: lower case, digits and underscores."""

FileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")]
"""The stem of a configuration file (environments use hyphens, share classes upper case)."""

ShareClassName = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]+$")]
Symbol = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]+$")]
"""A platform instrument symbol such as ``BTCUSDT`` (the venue's own symbol is kept per market)."""
Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]+$")]
"""A token symbol as its protocol spells it: ``USDT``, ``WETH``, ``weETH``, ``wstETH``."""

Fraction = Annotated[float, Field(ge=0, le=1)]
PositiveFraction = Annotated[float, Field(gt=0, le=1)]
OpenFraction = Annotated[float, Field(gt=0, lt=1)]
NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _checksum_address(value: str) -> str:
    if not _HEX_ADDRESS.match(value):
        raise PydanticCustomError(
            "address", "must be a 0x-prefixed 20-byte hex address, got {value}", {"value": value}
        )
    mixed_case = value[2:] != value[2:].lower() and value[2:] != value[2:].upper()
    if mixed_case and not is_checksum_address(value):
        raise PydanticCustomError("address_checksum", "fails the EIP-55 checksum: {value}", {"value": value})
    return str(to_checksum_address(value))


Address = Annotated[str, AfterValidator(_checksum_address)]
"""An Ethereum address; mixed-case input must pass EIP-55, output is always checksummed."""

HttpUrl = Annotated[str, StringConstraints(pattern=r"^https://[^\s]+$")]
WsUrl = Annotated[str, StringConstraints(pattern=r"^wss://[^\s]+$")]


class StrictModel(BaseModel):
    """Base of every configuration model: unknown keys rejected, no type coercion, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def fmt(number: float) -> str:
    """A number as it reads in a message: ``0.9000000000000001`` -> ``0.9``, ``1.0`` -> ``1``."""
    return format(number, ".12g")


def raise_issues(issues: list[Issue]) -> None:
    """Raise the rule violations found by a model's own checks (the loader adds the file name)."""
    if issues:
        raise ConfigValidationError(issues)
