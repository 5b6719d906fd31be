"""The Kubernetes adapter: the only package that imports the `kubernetes` client.

- `client`: the choke point (every API call; the library's exceptions mapped to `app.core.errors`).
- `secretwatch`: follows named Secrets with list + watch on background threads.
- `trackedsecrets`: the rules every watched Secret shares (strict start-up, last good value kept).
- `keysecrets`: the key Secrets policies name, as the `KeySnapshot` the `KeyStore` port serves.
- `dockerconfigsecret`: one image pull Secret as registry credentials.
- `webhookpullsecret`: the webhook's own pull Secret (`registries.pullSecret`), watched.
- `podpullsecrets` and `cachedreads`: the pull Secrets of the pod under review
  (`registries.podPullSecrets`), read on the admission path through a short-lived cache.
- `listing`: pods and workloads, page by page, for `sigwebhook audit scan` (never on the admission
  path).

Import the module that holds what you need (nothing is re-exported here: importing one must not load
the others). Keys and the webhook's own credentials are watched in the background; the admission path only
reads their published snapshots. Pod pull Secrets are the exception: they are read when a review
needs them, at most once per object per cache lifetime.
"""
