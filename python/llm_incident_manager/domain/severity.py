"""Maps the severity words of every source onto the five levels (documented in docs/severity.md)."""

from __future__ import annotations

from llm_incident_manager.domain.alerts import Severity

__all__ = ["DEFAULT_SEVERITY", "SEVERITY_ALIASES", "parse_severity"]

#: Used when a source gives no severity at all.
DEFAULT_SEVERITY = Severity.MEDIUM

_C, _H, _M, _L, _I = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO

#: Lower-cased words seen in the wild: P1..P5 and SEV1..SEV5, PagerDuty's four levels, Alertmanager label
#: conventions, syslog level names.
SEVERITY_ALIASES: dict[str, Severity] = {
    # critical
    "critical": _C, "crit": _C, "fatal": _C, "emergency": _C, "emerg": _C, "alert": _C, "page": _C,
    "disaster": _C, "p1": _C, "sev1": _C, "sev-1": _C, "sev 1": _C, "s1": _C, "1": _C,
    # high
    "high": _H, "error": _H, "err": _H, "major": _H, "severe": _H, "p2": _H, "sev2": _H, "sev-2": _H,
    "sev 2": _H, "s2": _H, "2": _H,
    # medium
    "medium": _M, "warning": _M, "warn": _M, "moderate": _M, "average": _M, "minor": _M, "p3": _M,
    "sev3": _M, "sev-3": _M, "sev 3": _M, "s3": _M, "3": _M,
    # low
    "low": _L, "notice": _L, "p4": _L, "sev4": _L, "sev-4": _L, "sev 4": _L, "s4": _L, "4": _L,
    # info
    "info": _I, "informational": _I, "information": _I, "debug": _I, "none": _I, "ok": _I, "p5": _I,
    "sev5": _I, "sev-5": _I, "sev 5": _I, "s5": _I, "5": _I,
}  # fmt: skip


def parse_severity(value: str) -> Severity | None:
    """The level a severity word means, or None when the word is unknown."""
    return SEVERITY_ALIASES.get(value.strip().lower())
