"""What series a data root holds: :class:`SeriesSpec` and the :class:`Catalogue` built from the layout.

A data root is a folder with the layout of the bundled dataset (``basis.data``, see its README). Each
dated file maps to one series by a rule on its path, so a root with more files (another venue, symbol
or bar interval) is catalogued without code changes:

================================================  ======================================================
path                                              series
================================================  ======================================================
``cex/<venue>/<SYMBOL>_<spot|perp>_<n><m|h|d>.csv.gz``  ``bar:<venue>:<SYMBOL>:<spot|perp>``
``cex/<venue>/<SYMBOL>_funding.csv``              ``funding:<venue>:<SYMBOL>`` (8h settlements)
``dex/<venue>/<PAIR>_<n><m|h|d>.csv.gz``          ``bar:<venue>:<PAIR>:dex``
``tokens/<base>_<quote>_<n><m|h|d>.csv.gz``       ``bar:uniswap_v3:<BASE><QUOTE>:dex``
``aave_v3/<asset>_reserve_daily.csv``             ``reserve:aave_v3:<asset>``
``aave_v3/oracle_<asset>_usd_daily.csv``          ``oracle:aave_v3:<asset>`` (quote USD)
``aave_v3/oracle_<lst>_eth_daily.csv``            ``lst:<issuer>:<lst>`` (etherfi weETH, lido wstETH)
``gas/<chain>_gas_<n>h.csv.gz``                   ``gas:<chain>:gwei``
``staking/<venue>_<reward>_<rewards|topups>.csv``  ``reward:<venue>:<REWARD>`` (per unit of staked token)
================================================  ======================================================

Series names are ``kind:venue:symbol`` plus ``:market`` for bars. Asset and token names keep their usual
spelling (``weETH``, ``wstETH``, ``eETH``); other names are upper case.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from .errors import LayoutError, MissingSeriesError

Kind = Literal["bar", "funding", "reserve", "oracle", "lst", "gas", "reward"]
Market = Literal["spot", "perp", "dex"]
KINDS: tuple[Kind, ...] = ("bar", "funding", "reserve", "oracle", "lst", "gas", "reward")

DAY_S = 86_400
FUNDING_INTERVAL_S = 8 * 3_600
TOKEN_NAMES: dict[str, str] = {"weeth": "weETH", "wsteth": "wstETH", "eeth": "eETH", "steth": "stETH"}
LST_ISSUERS: dict[str, str] = {"weETH": "etherfi", "wstETH": "lido"}
"""Who issues each liquid staking token: the venue of its :class:`LstRate` messages."""
QUOTES: tuple[str, ...] = ("USDT", "USDC", "WETH", "USD", "ETH", "BTC")
"""Quote currencies recognised at the end of a pair symbol (``WETHUSDT`` = WETH in USDT)."""
TOKENS_VENUE = "uniswap_v3"
"""Venue of the pools in ``tokens/`` (Uniswap v3, see the data README)."""


def token_name(stem: str) -> str:
    """The usual spelling of a token from a lower-case file-name part: ``weeth`` -> ``weETH``."""
    return TOKEN_NAMES.get(stem.lower(), stem.upper())


def split_pair(symbol: str) -> tuple[str, str]:
    """``WETHUSDT`` -> (``WETH``, ``USDT``); the quote is the longest known quote at the end."""
    for quote in sorted(QUOTES, key=len, reverse=True):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ValueError(f"cannot split {symbol!r} into base and quote (known quotes: {', '.join(QUOTES)})")


def interval_seconds(text: str) -> int:
    """``1m`` -> 60, ``1h`` -> 3600, ``1d`` -> 86400."""
    match = re.fullmatch(r"(\d+)([mhd])", text)
    if match is None or int(match[1]) == 0:
        raise ValueError(f"not a bar interval: {text!r}")
    return int(match[1]) * {"m": 60, "h": 3_600, "d": DAY_S}[match[2]]


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """One dated series of a data root.

    ``path`` is relative to a data root (POSIX separators); the same path in several roots is the same
    series, extended in time. ``interval_s`` is the expected spacing of its messages (``None`` for
    irregular event series such as reward payouts); a hole is a spacing larger than
    ``interval_s + jitter_s``. ``quote`` is the unit of the values: the quote currency of a bar or oracle
    price, ``ETH`` for LST rates, ``gwei`` for gas, the staked token a reward is paid per. ``column`` is
    the value column of reward files, ``extra`` the further columns read from them.
    """

    kind: Kind
    venue: str
    symbol: str
    path: str
    market: Market | None = None
    interval_s: int | None = None
    jitter_s: int = 0
    quote: str = ""
    column: str = ""
    extra: tuple[str, ...] = ()
    """Further columns of a reward file read into its messages (:func:`reward_columns`)."""

    @property
    def name(self) -> str:
        base = f"{self.kind}:{self.venue}:{self.symbol}"
        return f"{base}:{self.market}" if self.market else base

    @property
    def regular(self) -> bool:
        """True when the series is sampled on a fixed interval (and so bounds a mode's window)."""
        return self.interval_s is not None


class SeriesKey(NamedTuple):
    kind: str
    venue: str
    symbol: str
    market: str | None


def parse_name(name: str) -> SeriesKey:
    """``bar:binance:BTCUSDT:perp`` -> SeriesKey; ``funding:okx:ETHUSDT`` -> market None."""
    parts = name.split(":")
    if len(parts) not in (3, 4) or not all(parts) or parts[0] not in KINDS:
        raise ValueError(
            f"invalid series name {name!r}: expected kind:venue:symbol[:market], kind one of {KINDS}"
        )
    if parts[0] == "bar" and len(parts) != 4:
        raise ValueError(f"invalid series name {name!r}: a bar series names its market (spot, perp or dex)")
    return SeriesKey(parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else None)


# --- layout rules ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: re.Pattern[str]
    build: Callable[[re.Match[str], Path], SeriesSpec | None]
    expect: Callable[[SeriesKey], list[str]]


def _bar_cex(m: re.Match[str], _: Path) -> SeriesSpec:
    market: Market = "perp" if m["market"] == "perp" else "spot"
    return SeriesSpec(
        "bar",
        m["venue"],
        m["symbol"],
        m[0],
        market,
        interval_seconds(m["interval"]),
        quote=_quote_of(m["symbol"]),
    )


def _bar_dex(m: re.Match[str], _: Path) -> SeriesSpec:
    return SeriesSpec(
        "bar",
        m["venue"],
        m["symbol"],
        m[0],
        "dex",
        interval_seconds(m["interval"]),
        quote=_quote_of(m["symbol"]),
    )


def _bar_token(m: re.Match[str], _: Path) -> SeriesSpec:
    base, quote = token_name(m["base"]), token_name(m["quote"])
    return SeriesSpec(
        "bar", TOKENS_VENUE, base + quote, m[0], "dex", interval_seconds(m["interval"]), quote=quote
    )


def _funding(m: re.Match[str], _: Path) -> SeriesSpec:
    return SeriesSpec(
        "funding", m["venue"], m["symbol"], m[0], interval_s=FUNDING_INTERVAL_S, quote=_quote_of(m["symbol"])
    )


def _reserve(m: re.Match[str], _: Path) -> SeriesSpec:
    return SeriesSpec("reserve", m["venue"], token_name(m["asset"]), m[0], interval_s=DAY_S, quote="USD")


def _oracle(m: re.Match[str], _: Path) -> SeriesSpec:
    return SeriesSpec("oracle", m["venue"], token_name(m["asset"]), m[0], interval_s=DAY_S, quote="USD")


def _lst(m: re.Match[str], _: Path) -> SeriesSpec | None:
    token = token_name(m["asset"])
    issuer = LST_ISSUERS.get(token)
    if issuer is None:  # an ETH-quoted oracle file of a token whose issuer is unknown: not an LST rate
        return None
    return SeriesSpec("lst", issuer, token, m[0], interval_s=DAY_S, quote="ETH")


def _gas(m: re.Match[str], _: Path) -> SeriesSpec:
    # The sampled blocks alternate between ~1h before the nominal hour and on it (data README, gas quirk),
    # so block times are ~0 or ~2 nominal intervals apart: the effective interval is twice the nominal one.
    nominal = interval_seconds(m["interval"])
    return SeriesSpec(
        "gas", m["chain"], "gwei", m[0], interval_s=2 * nominal, jitter_s=nominal // 2, quote="gwei"
    )


def _reward(m: re.Match[str], root: Path) -> SeriesSpec | None:
    reward = m["reward"]
    with (root / m[0]).open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    prefix = f"{reward}_per_"
    column = next((c for c in header if c.startswith(prefix)), None)
    if column is None:
        return None
    staked = token_name(column[len(prefix) :].split("_", 1)[0])
    extra = tuple(c for c in reward_columns(reward) if c in header)
    return SeriesSpec("reward", m["venue"], reward.upper(), m[0], quote=staked, column=column, extra=extra)


PERIOD_COLUMNS: tuple[str, str] = ("staking_period_start", "staking_period_end")
"""Inclusive dates (``YYYY-MM-DD``) of the staking period a reward row is for."""
STAKED_COLUMNS: tuple[str, ...] = ("eth_restaked", "eth_not_restaked")
"""The staked amounts that shared a period's reward (summed)."""


def reward_columns(reward: str) -> tuple[str, ...]:
    """The columns of a reward file read besides its per-unit value, when the file has them: the period
    (:data:`PERIOD_COLUMNS`), the total distributed (``<reward>_earned``) and :data:`STAKED_COLUMNS`."""
    return (*PERIOD_COLUMNS, f"{reward}_earned", *STAKED_COLUMNS)


def _quote_of(symbol: str) -> str:
    try:
        return split_pair(symbol)[1]
    except ValueError:
        return ""


_V = r"(?P<venue>[a-z0-9_]+)"
_S = r"(?P<symbol>[A-Z0-9]+)"
_I = r"(?P<interval>\d+[mhd])"

RULES: tuple[_Rule, ...] = (
    _Rule(
        re.compile(rf"cex/{_V}/{_S}_(?P<market>spot|perp)_{_I}\.csv\.gz"),
        _bar_cex,
        lambda k: (
            [f"cex/{k.venue}/{k.symbol}_{k.market}_1h.csv.gz"]
            if k.kind == "bar" and k.market != "dex"
            else []
        ),
    ),
    _Rule(
        re.compile(rf"cex/{_V}/{_S}_funding\.csv"),
        _funding,
        lambda k: [f"cex/{k.venue}/{k.symbol}_funding.csv"] if k.kind == "funding" else [],
    ),
    _Rule(
        re.compile(rf"dex/{_V}/{_S}_{_I}\.csv\.gz"),
        _bar_dex,
        lambda k: [f"dex/{k.venue}/{k.symbol}_1h.csv.gz"] if k.kind == "bar" and k.market == "dex" else [],
    ),
    _Rule(
        re.compile(rf"tokens/(?P<base>[a-z0-9]+)_(?P<quote>[a-z0-9]+)_{_I}\.csv\.gz"),
        _bar_token,
        lambda k: _expect_token_bar(k),
    ),
    _Rule(
        re.compile(r"(?P<venue>aave_v\d+)/(?P<asset>[a-z0-9]+)_reserve_daily\.csv"),
        _reserve,
        lambda k: [f"{k.venue}/{k.symbol.lower()}_reserve_daily.csv"] if k.kind == "reserve" else [],
    ),
    _Rule(
        re.compile(r"(?P<venue>aave_v\d+)/oracle_(?P<asset>[a-z0-9]+)_usd_daily\.csv"),
        _oracle,
        lambda k: [f"{k.venue}/oracle_{k.symbol.lower()}_usd_daily.csv"] if k.kind == "oracle" else [],
    ),
    _Rule(
        re.compile(r"(?P<venue>aave_v\d+)/oracle_(?P<asset>[a-z0-9]+)_eth_daily\.csv"),
        _lst,
        lambda k: [f"aave_v3/oracle_{k.symbol.lower()}_eth_daily.csv"] if k.kind == "lst" else [],
    ),
    _Rule(
        re.compile(rf"gas/(?P<chain>[a-z0-9]+)_gas_{_I}\.csv\.gz"),
        _gas,
        lambda k: [f"gas/{k.venue}_gas_1h.csv.gz"] if k.kind == "gas" else [],
    ),
    _Rule(
        re.compile(r"staking/(?P<venue>[a-z0-9]+)_(?P<reward>[a-z0-9]+)_(?:rewards|topups)\.csv"),
        _reward,
        lambda k: (
            [f"staking/{k.venue}_{k.symbol.lower()}_{s}.csv" for s in ("rewards", "topups")]
            if k.kind == "reward"
            else []
        ),
    ),
)


def _expect_token_bar(key: SeriesKey) -> list[str]:
    if key.kind != "bar" or key.market != "dex" or key.venue != TOKENS_VENUE:
        return []
    try:
        base, quote = split_pair(key.symbol)
    except ValueError:
        return []
    return [f"tokens/{base.lower()}_{quote.lower()}_1h.csv.gz"]


def spec_for_path(relative: str, root: Path) -> SeriesSpec | None:
    """The series a file at ``relative`` (POSIX path inside ``root``) holds, or None if it is no series."""
    for rule in RULES:
        match = rule.pattern.fullmatch(relative)
        if match is not None:
            return rule.build(match, root)
    return None


def expected_paths(name: str) -> list[str]:
    """The relative paths a series named ``name`` would have in a data root (for error messages)."""
    key = parse_name(name)
    return [path for rule in RULES for path in rule.expect(key)]


# --- the catalogue --------------------------------------------------------------------------------


class Catalogue:
    """Every series held by an ordered list of data roots (the union over the roots)."""

    def __init__(self, roots: Sequence[Path], specs: Iterable[SeriesSpec]) -> None:
        self.roots: tuple[Path, ...] = tuple(roots)
        self.specs: tuple[SeriesSpec, ...] = tuple(sorted(specs, key=lambda s: (s.name, s.path)))
        self._by_name: dict[str, list[SeriesSpec]] = {}
        self._by_path: dict[str, SeriesSpec] = {spec.path: spec for spec in self.specs}
        for spec in self.specs:
            self._by_name.setdefault(spec.name, []).append(spec)

    def __iter__(self) -> Iterator[SeriesSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def get(self, name: str) -> SeriesSpec:
        """The series called ``name``; :class:`MissingSeriesError` names the files looked for."""
        found = self._by_name.get(name)
        if not found:
            paths = [root / rel for root in self.roots for rel in expected_paths(name)]
            raise MissingSeriesError(name, paths)
        if len(found) > 1:
            raise LayoutError(f"series {name} is held by several files: {', '.join(s.path for s in found)}")
        return found[0]

    def for_path(self, relative: str) -> SeriesSpec:
        """The series of the file at ``relative`` (as venue configs name it, e.g. ``cex/binance/BTCUSDT_funding.csv``).

        :class:`MissingSeriesError` (naming the file in every root) when no root has it;
        :class:`LayoutError` when the path is not a replayed series file at all.
        """
        spec = self._by_path.get(relative)
        if spec is not None:
            return spec
        if not any(rule.pattern.fullmatch(relative) for rule in RULES):
            raise LayoutError(
                f"{relative} is not a series file the feed replays (see basis.components.feed.series)"
            )
        raise MissingSeriesError(relative, [root / relative for root in self.roots])

    def select(self, names: Iterable[str]) -> list[SeriesSpec]:
        """The series called ``names``, in that order (the first missing one raises)."""
        return [self.get(name) for name in names]

    def of_kind(self, kind: Kind) -> list[SeriesSpec]:
        return [spec for spec in self.specs if spec.kind == kind]


def discover(roots: Sequence[Path | str]) -> Catalogue:
    """Catalogue the series of ``roots`` (in order; later roots extend earlier ones in time)."""
    paths = [Path(root) for root in roots]
    if not paths:
        raise LayoutError("no data root given")
    specs: dict[str, SeriesSpec] = {}
    for root in paths:
        if not root.is_dir():
            raise LayoutError(f"data root {root} is not a folder")
        for file in sorted(root.rglob("*.csv*")):
            relative = file.relative_to(root).as_posix()
            if relative in specs:
                continue
            spec = spec_for_path(relative, root)
            if spec is not None:
                specs[relative] = spec
    return Catalogue(paths, specs.values())
