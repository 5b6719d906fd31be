"""Audits: the audit record's schema and reading records back (`lines`, `summary`), and checking what
runs against the policies (`scan`). Above `admission`: it uses the decision, never the other way."""
