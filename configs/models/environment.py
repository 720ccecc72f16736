"""Environments: which execution environment (live, testnet, simulation) each venue runs in."""

from __future__ import annotations

from .base import EnvironmentName, FileName, StrictModel, VenueName


class EnvironmentConfig(StrictModel):
    """``configs/environments/<name>.yaml``: a venue -> environment map.

    Venues can be mixed (Binance on its testnet while AAVE is simulated). A run may only use venues
    listed here, and each listed venue's own file must define the chosen environment.
    """

    name: FileName
    description: str = ""
    venues: dict[VenueName, EnvironmentName]

    def environment_of(self, venue: VenueName) -> EnvironmentName | None:
        return self.venues.get(venue)
