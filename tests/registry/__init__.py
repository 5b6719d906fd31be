"""Tests of the OCI registry adapter against real docker-registry instances."""
