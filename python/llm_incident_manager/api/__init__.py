"""HTTP API: Litestar controllers, guards and problem-details error handling."""

__all__: list[str] = []
