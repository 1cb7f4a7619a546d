"""Conversions shared by the stores: JSON columns and integer-microsecond times (SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from llm_incident_manager.domain.silences import SilenceMatcher

__all__ = [
    "EPOCH",
    "decode_json",
    "decode_silence_matchers",
    "encode_json",
    "encode_silence_matchers",
    "from_us",
    "from_us_opt",
    "to_us",
    "to_us_opt",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_encoder = msgspec.json.Encoder()
_str_dict_decoder = msgspec.json.Decoder(dict[str, str])
_any_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def to_us(value: datetime) -> int:
    return (value - EPOCH) // _US


def to_us_opt(value: datetime | None) -> int | None:
    return None if value is None else (value - EPOCH) // _US


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def from_us_opt(value: int | None) -> datetime | None:
    return None if value is None else EPOCH + timedelta(microseconds=value)


def encode_json(value: Any) -> str:
    return _encoder.encode(value).decode()


def decode_json(value: str | bytes, *, str_dict: bool = True) -> Any:
    return _str_dict_decoder.decode(value) if str_dict else _any_decoder.decode(value)


_silence_matchers = msgspec.json.Decoder(list[SilenceMatcher])
_silence_encoder = msgspec.json.Encoder()


def encode_silence_matchers(matchers: list[SilenceMatcher]) -> str:
    return _silence_encoder.encode(matchers).decode()


def decode_silence_matchers(value: str | bytes) -> list[SilenceMatcher]:
    return _silence_matchers.decode(value)
