"""Notification delivery (issue 4, in progress): channels, their request signing, the outbox and its relay."""
