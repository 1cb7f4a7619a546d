"""HTTP API: Litestar controllers, authentication and roles, problem-details error handling."""

__all__: list[str] = []
