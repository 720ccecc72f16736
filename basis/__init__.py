"""basis: multi-venue crypto yield and basis strategies on one event-sourced NATS bus.

The same components backtest on historical data, run against testnets and trade live. Packages:

- ``basis.bus``: subjects, message schemas, transports (NATS, in-process), the event store
- ``basis.components``: market-data feed, monitors, strategies, router, recorder
- ``basis.venues``: simulated, testnet and live venue gateways
- ``basis.projections``: rebuild positions, equity and attribution from the event log
- ``basis.configs``: typed strategy-mode, venue, share-class and environment configs
"""

__version__ = "0.1.0"


def compiled() -> bool:
    """True when the hot modules run compiled (a wheel built with mypyc, see setup.py), False for pure Python."""
    from basis.bus import bus

    return not bus.__file__.endswith(".py")
