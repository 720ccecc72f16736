"""Which exceptions are the user's to fix (bad input) rather than bugs."""

from __future__ import annotations


def _user_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [FileNotFoundError]
    for module, name in (
        ("basis.bus.errors", "BusError"),
        ("basis.configs", "ConfigError"),
        ("basis.components.feed", "DataError"),
        ("basis.backtest.errors", "BacktestError"),
        ("basis.venues.errors", "VenueError"),
    ):
        try:
            mod = __import__(module, fromlist=[name])
            types.append(getattr(mod, name))
        except (ImportError, AttributeError):
            continue
    return tuple(types)


class _UserErrorMeta(type):
    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, _user_error_types())

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, _user_error_types())


class UserError(Exception, metaclass=_UserErrorMeta):
    """Matches every error caused by bad input: configs, data files, arguments, messages, venues."""


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
