"""Correlation: which open incident a new alert belongs to, and why (docs/correlation.md)."""
