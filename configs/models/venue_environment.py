"""The per-environment sections of a venue file: how to reach the venue live or on its testnet, and
which recorded data a simulated venue marks to."""

from __future__ import annotations

from typing import Annotated, Final, Generic, Literal, TypeVar

from pydantic import Field, StringConstraints

from ..secret import Secret
from .base import Address, EnvironmentName, HttpUrl, StrictModel, VenueName, WsUrl

Network = Literal["mainnet", "sepolia", "holesky"]
CHAIN_IDS: Final[dict[Network, int]] = {"mainnet": 1, "sepolia": 11155111, "holesky": 17000}

SeriesKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]+(_[A-Za-z0-9]+)*$")]
"""Name of a data series, e.g. ``BTCUSDT_perp``, ``BTCUSDT_funding``, ``USDT_reserve``."""

DataPath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-.]+)*\.(csv|csv\.gz|json)$")
]
"""A file path relative to the market-data root (the folder documented by its README)."""


class ProxySeries(StrictModel):
    """Use another venue's series where this venue has none of its own."""

    venue: VenueName
    series: SeriesKey
    reason: str = ""


class SimulationFeeds(StrictModel):
    """The data a simulated venue marks to."""

    series: dict[SeriesKey, DataPath] = Field(default_factory=dict)
    proxies: dict[SeriesKey, ProxySeries] = Field(default_factory=dict)


class CexCredentials(StrictModel):
    api_key: Secret
    api_secret: Secret
    passphrase: Secret | None = None


class MarketEndpoints(StrictModel):
    rest_url: HttpUrl
    ws_url: WsUrl


class CexConnection(StrictModel):
    """A centralised exchange, live or on its testnet."""

    spot: MarketEndpoints | None = None
    perp: MarketEndpoints | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra HTTP headers on every request (OKX demo trading: ``x-simulated-trading: "1"``)."""
    credentials: CexCredentials


class CexSimulation(SimulationFeeds):
    """A simulated centralised exchange."""


class ChainConnection(StrictModel):
    """An on-chain venue: the chain and the contracts it is reached through.

    A ``null`` address means no deployment is known on that network; runs needing it are refused.
    """

    network: Network
    chain_id: int
    contracts: dict[str, Address | None] = Field(default_factory=dict)
    tokens: dict[str, Address | None] = Field(default_factory=dict)


class RpcCredentials(StrictModel):
    api_key: Secret
    """Appended to ``rpc_url`` and ``ws_url`` as the last path segment."""
    private_key: Secret
    """Key of the wallet that signs every on-chain transaction."""


class RpcConnection(ChainConnection):
    """The node provider every on-chain venue sends its transactions through."""

    rpc_url: HttpUrl
    ws_url: WsUrl
    credentials: RpcCredentials


class ChainSimulation(ChainConnection, SimulationFeeds):
    """A simulated on-chain venue: mainnet identifiers, marked to recorded data."""


ConnectionT = TypeVar("ConnectionT", bound=StrictModel)
SimulationT = TypeVar("SimulationT", bound=SimulationFeeds)


class Environments(StrictModel, Generic[ConnectionT, SimulationT]):
    """The three execution environments of a venue; a missing one cannot be chosen."""

    live: ConnectionT | None = None
    testnet: ConnectionT | None = None
    simulation: SimulationT | None = None

    def get(self, name: EnvironmentName) -> ConnectionT | SimulationT | None:
        section: ConnectionT | SimulationT | None = getattr(self, name)
        return section
