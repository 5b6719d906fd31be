"""The webhook's YAML config: validated models (the external form) mapped to the core's types.

`files` reads and validates the file, `settings` is the whole config, `policies` the policies and
their keys with the mapping to the core's `Policy`, `fields` the shared field types, `source` the
config as the core's `PolicySource`. Reads files (the config, key files); builds no client and starts
nothing: that is the composition root's job (`app.compose`).
"""

from app.config.files import load_settings, parse_settings
from app.config.policies import MAX_KEY_FILE_BYTES, KeyConfig, PolicyConfig
from app.config.settings import Settings, own_namespace
from app.config.source import admission_policy, policy_source

__all__ = [
    "MAX_KEY_FILE_BYTES",
    "KeyConfig",
    "PolicyConfig",
    "Settings",
    "admission_policy",
    "load_settings",
    "own_namespace",
    "parse_settings",
    "policy_source",
]
