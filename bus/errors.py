"""Errors of the bus layer.

BusError
├── DecodeError        bytes on a subject are not a valid message
├── SubjectError       a subject or pattern is malformed
├── TransportError     the transport failed (connection, timeout, server)
│   └── RequestTimeout
├── EmbeddedServerError  the embedded nats-server could not start
└── StoreError         the event store failed
"""

from __future__ import annotations


class BusError(Exception):
    """Base of every bus error."""


class DecodeError(BusError):
    """Bytes on a subject are not a valid message."""


class SubjectError(BusError, ValueError):
    """A subject or subscription pattern is malformed."""


class TransportError(BusError):
    """The transport failed."""


class RequestTimeout(TransportError):
    """No reply arrived in time."""


class EmbeddedServerError(BusError):
    """The embedded nats-server could not be started."""


class StoreError(BusError):
    """The event store failed."""
