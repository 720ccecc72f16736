"""Bytes on the wire: JSON (msgspec), so tools in any language can subscribe. Decoded once, at the edge."""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import DecodeError
from .messages import MESSAGE_TYPES, AnyMessage, Message

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(AnyMessage)


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


def decode(data: bytes) -> Message:
    """Decode one message; raises :class:`DecodeError` naming what is wrong."""
    try:
        message: Message = _decoder.decode(data)
    except msgspec.DecodeError as exc:  # ValidationError is a subclass
        raise DecodeError(str(exc)) from exc
    return message


def json_schemas() -> dict[str, Any]:
    """JSON Schema of every message type, keyed by the type tag."""
    schemas, components = msgspec.json.schema_components(MESSAGE_TYPES, ref_template="#/$defs/{name}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "basis bus messages",
        "oneOf": list(schemas),
        "discriminator": {"propertyName": "type"},
        "$defs": components,
    }
