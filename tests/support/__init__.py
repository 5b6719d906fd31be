"""Test helpers: real registries, a token service, test PKI, OCI layouts, pushing and a fault proxy."""
