"""llm-incident-manager: an incident manager for teams that run LLM and ML serving in production."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("llm-incident-manager")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["__version__"]
