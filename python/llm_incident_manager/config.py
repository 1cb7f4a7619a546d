"""Process settings from ``LIM_*`` environment variables (docs/configuration.md lists every one)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import msgspec

__all__ = ["Settings", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Seconds in ``30s``, ``15m``, ``1h``, ``250ms`` or a bare number of seconds."""
    match = _DURATION.match(text)
    if match is None:
        msg = f"{text!r} is not a duration (use e.g. 30s, 15m, 1h)"
        raise ValueError(msg)
    return float(match.group(1)) * _UNITS[match.group(2)]


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = "sqlite:///./var/lim.db"
    dedup_window_seconds: float = 15 * 60.0
    max_body_bytes: int = 1024 * 1024
    max_batch: int = 1000
    sqlite_synchronous: str = "FULL"
    pg_pool_size: int = 10
    db_timeout_seconds: float = 10.0
    key_cache_seconds: float = 10.0
    commit_max_alerts: int = 5000
    flush_interval_seconds: float = 0.25
    flush_max: int = 20_000
    log_level: str = "info"
    #: the configuration file (YAML, a superset of alertmanager.yml); None runs on the defaults
    config_path: str | None = None
    #: NATS with JetStream for the notification queue (distributed mode); None keeps it in the outbox table
    nats_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Reads ``LIM_*``; a bad value raises ValueError naming the variable."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}

        def read(name: str, field: str, convert: type | object) -> None:
            raw = env.get(name)
            if raw is None or raw == "":
                return
            try:
                values[field] = convert(raw)  # type: ignore[operator]
            except ValueError as exc:
                msg = f"{name}: {exc}"
                raise ValueError(msg) from None

        read("LIM_HOST", "host", str)
        read("LIM_PORT", "port", int)
        read("LIM_DATABASE_URL", "database_url", str)
        read("LIM_DEDUP_WINDOW", "dedup_window_seconds", parse_duration)
        read("LIM_MAX_BODY_BYTES", "max_body_bytes", int)
        read("LIM_MAX_BATCH", "max_batch", int)
        read("LIM_SQLITE_SYNCHRONOUS", "sqlite_synchronous", _synchronous)
        read("LIM_PG_POOL_SIZE", "pg_pool_size", int)
        read("LIM_DB_TIMEOUT", "db_timeout_seconds", parse_duration)
        read("LIM_KEY_CACHE_TTL", "key_cache_seconds", parse_duration)
        read("LIM_COMMIT_MAX_ALERTS", "commit_max_alerts", int)
        read("LIM_FLUSH_INTERVAL", "flush_interval_seconds", parse_duration)
        read("LIM_FLUSH_MAX", "flush_max", int)
        read("LIM_LOG_LEVEL", "log_level", str)
        read("LIM_CONFIG", "config_path", str)
        read("LIM_NATS_URL", "nats_url", str)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Raises ValueError naming the variable of the first value out of range."""
        problems = [
            ("LIM_PORT", 0 < self.port < 65536, "must be a port number (1-65535)"),
            ("LIM_DATABASE_URL", self.database_url.startswith(("sqlite:", "postgresql://", "postgres://")),
             "use sqlite:///PATH or postgresql://..."),
            ("LIM_DEDUP_WINDOW", self.dedup_window_seconds > 0, "must be longer than 0s"),
            ("LIM_MAX_BODY_BYTES", self.max_body_bytes >= 1024, "must be at least 1024"),
            ("LIM_MAX_BATCH", self.max_batch >= 1, "must be at least 1"),
            ("LIM_PG_POOL_SIZE", self.pg_pool_size >= 1, "must be at least 1"),
            ("LIM_DB_TIMEOUT", self.db_timeout_seconds > 0, "must be longer than 0s"),
            ("LIM_KEY_CACHE_TTL", self.key_cache_seconds >= 0, "must not be negative"),
            ("LIM_COMMIT_MAX_ALERTS", self.commit_max_alerts >= 1, "must be at least 1"),
            ("LIM_FLUSH_INTERVAL", self.flush_interval_seconds >= 0, "must not be negative"),
            ("LIM_FLUSH_MAX", self.flush_max >= 1, "must be at least 1"),
            ("LIM_NATS_URL", self.nats_url is None or self.nats_url.startswith(("nats://", "tls://")),
             "use nats://HOST:PORT"),
            ("LIM_LOG_LEVEL", self.log_level.upper() in _LOG_LEVELS, f"must be one of {', '.join(_LOG_LEVELS)}"),
        ]  # fmt: skip
        for name, ok, why in problems:
            if not ok:
                msg = f"{name}: {why}"
                raise ValueError(msg)


def _synchronous(value: str) -> str:
    upper = value.upper()
    if upper not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        msg = f"{value!r} is not one of OFF, NORMAL, FULL, EXTRA"
        raise ValueError(msg)
    return upper
