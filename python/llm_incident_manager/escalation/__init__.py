"""Escalation policies: who is paged next when nobody acknowledges (docs/oncall.md)."""
