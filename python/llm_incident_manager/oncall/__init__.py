"""On-call schedules: rotations in layers, overrides, and who is on call when (``oncall.schedule``)."""
