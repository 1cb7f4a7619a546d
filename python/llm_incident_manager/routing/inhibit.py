"""Inhibition rules (Alertmanager's ``inhibit_rules``, docs/routing.md#inhibition).

While an alert matching a rule's source matchers fires, alerts matching its target matchers whose ``equal``
labels have the same values (a label missing on both sides counts as equal, as in Alertmanager) are inhibited:
recorded with the action ``suppressed`` and paging nobody. An alert that matches both sides of a rule does not
inhibit itself. The firing sources are indexed per rule by their ``equal`` values, so a check costs one dict
lookup per rule whose target matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from llm_incident_manager.domain.alerts import AlertStatus
from llm_incident_manager.errors import convert_section
from llm_incident_manager.pipeline.dedup import OpenAlertRow
from llm_incident_manager.routing.labels import row_labels
from llm_incident_manager.routing.matchers import Matcher, MatcherError, from_legacy, matches_all, parse_matchers

__all__ = ["InhibitRuleConfig", "Inhibitor", "build_inhibitor"]


class InhibitRuleConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    source_matchers: list[str] = []
    target_matchers: list[str] = []
    source_match: dict[str, str] | None = None
    source_match_re: dict[str, str] | None = None
    target_match: dict[str, str] | None = None
    target_match_re: dict[str, str] | None = None
    equal: list[str] = []


@dataclass(slots=True)
class _Rule:
    index: int
    source: list[Matcher]
    target: list[Matcher]
    equal: tuple[str, ...]
    #: equal-label values → fingerprints of the firing sources with them
    firing: dict[tuple[str, ...], set[str]] = field(default_factory=dict)

    def key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(name, "") for name in self.equal)


def _matchers(texts: list[str], path: str) -> list[Matcher]:
    out: list[Matcher] = []
    for i, text in enumerate(texts):
        try:
            out.extend(parse_matchers(text))
        except MatcherError as exc:
            msg = f"{path}[{i}]: {exc}"
            raise ValueError(msg) from None
    return out


def build_inhibitor(rules: Sequence[Any] | None) -> Inhibitor | None:
    """The inhibitor of ``inhibit_rules`` (as the YAML gives them); None without rules. Raises ValueError naming
    the key's path (``inhibit_rules[1].target_matchers[0]: ...``)."""
    if not rules:
        return None
    compiled = []
    for i, raw in enumerate(rules):
        path = f"inhibit_rules[{i}]"
        cfg = convert_section(raw, InhibitRuleConfig, path)
        try:
            source = _matchers(cfg.source_matchers, f"{path}.source_matchers") + from_legacy(
                cfg.source_match, cfg.source_match_re
            )
            target = _matchers(cfg.target_matchers, f"{path}.target_matchers") + from_legacy(
                cfg.target_match, cfg.target_match_re
            )
        except MatcherError as exc:
            msg = f"{path}: {exc}"
            raise ValueError(msg) from None
        compiled.append(_Rule(i, source, target, tuple(cfg.equal)))
    return Inhibitor(compiled)


class Inhibitor:
    def __init__(self, rules: list[_Rule]) -> None:
        self.rules = rules
        #: fingerprint → the (rule, key) entries it is a firing source under
        self._sources: dict[str, list[tuple[_Rule, tuple[str, ...]]]] = {}

    def load(self, rows: Iterable[OpenAlertRow]) -> None:
        """The firing sources among the open alerts (after a start or a reload)."""
        for rule in self.rules:
            rule.firing.clear()
        self._sources.clear()
        for row in rows:
            if row.status is AlertStatus.FIRING:
                self.observe(row.fingerprint, row_labels(row), firing=True)

    def observe(self, fingerprint: str, labels: Mapping[str, str], *, firing: bool) -> None:
        """An alert fired (or resolved): it starts (or stops) inhibiting."""
        old = self._sources.pop(fingerprint, None)
        if old is not None:
            for rule, key in old:
                members = rule.firing.get(key)
                if members is not None:
                    members.discard(fingerprint)
                    if not members:
                        del rule.firing[key]
        if not firing:
            return
        entries = []
        for rule in self.rules:
            if matches_all(rule.source, labels):
                key = rule.key(labels)
                rule.firing.setdefault(key, set()).add(fingerprint)
                entries.append((rule, key))
        if entries:
            self._sources[fingerprint] = entries

    def inhibited(self, fingerprint: str, labels: Mapping[str, str]) -> str | None:
        """``inhibit_rules[i]:<source fingerprint>`` of a firing source that inhibits this alert, or None."""
        for rule in self.rules:
            if not rule.firing or not matches_all(rule.target, labels):
                continue
            sources = rule.firing.get(rule.key(labels))
            if sources:
                other = next((fp for fp in sources if fp != fingerprint), None)
                if other is not None:
                    return f"inhibit_rules[{rule.index}]:{other}"
        return None
