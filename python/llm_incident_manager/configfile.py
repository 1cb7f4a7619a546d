"""The configuration file (``LIM_CONFIG``, YAML): a superset of Alertmanager's ``alertmanager.yml``.

An Alertmanager file loads as is: its top-level sections are accepted here and are read by the stages that
implement them (routing, receivers and inhibition come with those stages; until then they are kept and not
acted on). Our own sections are additions; this module reads ``correlation``. An unknown key or a bad value is
rejected at load with the path of the key, e.g. ``correlation.similarity.threshold: must be in (0, 1]``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

from llm_incident_manager.correlation.config import CorrelationConfig
from llm_incident_manager.errors import msgspec_field

__all__ = ["ConfigError", "FileConfig", "load_config", "parse_config"]


class ConfigError(ValueError):
    """The configuration file cannot be used; the message names the path of the bad key."""


class FileConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    correlation: CorrelationConfig = msgspec.field(default_factory=CorrelationConfig)
    # Alertmanager's sections, accepted so an alertmanager.yml loads unchanged (docs/correlation.md)
    global_: dict[str, Any] | None = msgspec.field(default=None, name="global")
    route: dict[str, Any] | None = None
    receivers: list[Any] | None = None
    inhibit_rules: list[Any] | None = None
    time_intervals: list[Any] | None = None
    mute_time_intervals: list[Any] | None = None
    templates: list[Any] | None = None


_POST_INIT_FIELD = re.compile(r"^([A-Za-z_][\w.\[\]]*): (.*)$", re.DOTALL)


def _error(exc: msgspec.ValidationError, source: str) -> ConfigError:
    """``lim.yaml: correlation.window: '3x' is not a duration``. The path comes from msgspec as for request bodies
    (``errors.msgspec_field``); a check in a ``__post_init__`` names its field at the start of the
    message, and msgspec gives the path of the struct, so the two are joined."""
    path, message = msgspec_field(str(exc))
    field = _POST_INIT_FIELD.match(message)
    if field is not None:
        path = f"{path}.{field.group(1)}" if path else field.group(1)
        message = field.group(2)
    return ConfigError(f"{source}: {path}: {message}" if path else f"{source}: {message}")


def parse_config(text: str | bytes, source: str = "<config>") -> FileConfig:
    """Parses and validates a configuration document; raises ConfigError naming the bad key."""
    if isinstance(text, str):
        text = text.encode()
    if not text.strip():
        return FileConfig()
    try:
        return msgspec.yaml.decode(text, type=FileConfig)
    except msgspec.ValidationError as exc:
        raise _error(exc, source) from None
    except msgspec.DecodeError as exc:
        msg = f"{source}: not valid YAML: {exc}"
        raise ConfigError(msg) from None


def load_config(path: str | Path | None) -> FileConfig:
    """The configuration at ``path`` (``LIM_CONFIG``), or the defaults when there is none."""
    if path is None or str(path) == "":
        return FileConfig()
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        msg = f"{path}: cannot read the configuration file: {exc.strerror}"
        raise ConfigError(msg) from None
    return parse_config(text, str(path))
