"""Routing of alerts as Alertmanager routes them: label matchers, the route tree, inhibition, silences, and
time intervals (``matchers``, ``tree``, ``inhibit``, ``silences``, ``time_intervals``).

The matcher syntax, the legacy ``match``/``match_re`` keys and the ``time_intervals`` entries follow
Alertmanager's semantics, so the ``route``, ``inhibit_rules`` and ``time_intervals`` of an ``alertmanager.yml``
mean here what they mean there.
"""
