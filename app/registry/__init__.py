"""The OCI registry adapter: `OciRegistry` implements the core's `Registry` and `RegistryWriter` ports.

Build it at the composition root from `RegistrySettings` (CLI options or webhook config) and close it
with `aclose()` or `async with`. Everything that talks HTTP to a registry lives in this package.
"""

from app.registry.client import OciRegistry
from app.registry.credentials import Credential
from app.registry.replies import RequestStats
from app.registry.settings import RegistrySettings, Timeouts

__all__ = ["Credential", "OciRegistry", "RegistrySettings", "RequestStats", "Timeouts"]
