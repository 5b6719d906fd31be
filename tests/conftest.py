"""Test set-up shared by every test module. Fixtures live in `tests/fixtures/` by topic."""

pytest_plugins = [
    "tests.fixtures.paths",
    "tests.fixtures.registry",
    "tests.fixtures.signing",
    "tests.fixtures.webhook",
    "tests.fixtures.kube",
    "tests.fixtures.sigstore",
]
