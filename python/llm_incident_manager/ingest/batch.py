"""Decoding helpers shared by adapters: one object or an array, the batch limit, errors naming the field."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from llm_incident_manager.errors import InvalidInput, PayloadTooLarge, field_error_from_msgspec

__all__ = ["check_batch_size", "decode_json"]

T = TypeVar("T")


def decode_json(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """Decodes ``body``; a bad body is an InvalidInput that names the field."""
    if not body.strip():
        raise InvalidInput.field("body", "the request body is empty")
    try:
        return decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise field_error_from_msgspec(exc, body) from None


def check_batch_size(items: list[Any], limit: int) -> None:
    if len(items) > limit:
        raise PayloadTooLarge(f"the batch holds {len(items)} alerts; at most {limit} are accepted per request")
    if not items:
        raise InvalidInput.field("body", "the batch is empty")
