"""The Kubernetes adapter: the only package that imports the `kubernetes` client.

`client` is the choke point (every API call, every exception mapped to `app.core.errors`), `secrets`
follows named Secrets with list + watch, `keystore` turns key Secrets into a `KeySnapshot` and
`pullsecrets` turns a `kubernetes.io/dockerconfigjson` Secret into registry credentials. Nothing
here runs on the admission path: the webhook only reads the published snapshots.
"""

from app.kube.client import KubeApi, Secret, connect
from app.kube.keystore import SecretKeyStore, parse_secret_keys
from app.kube.pullsecrets import PullCredentials, PullSecretStore, parse_pull_secret

__all__ = [
    "KubeApi",
    "PullCredentials",
    "PullSecretStore",
    "Secret",
    "SecretKeyStore",
    "connect",
    "parse_pull_secret",
    "parse_secret_keys",
]
