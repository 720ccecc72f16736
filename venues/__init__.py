"""Venues: the gateway port (:mod:`.gateway`), rejection reasons (:mod:`.errors`) and the gateways that
implement it (:mod:`.simulated` for backtests)."""
