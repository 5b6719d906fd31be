"""The one error hierarchy of sigwebhook.

Every error carries two messages: `reason`, short and safe to show a user (a CLI line, an
AdmissionReview `status.message`), and `detail`, for the log only. Adapters map library errors
(httpx, kubernetes, cryptography) to these once, chaining the original with `raise ... from`.
Nothing here may import a third-party library.
"""

from __future__ import annotations


def shown(text: str, limit: int = 100) -> str:
    """Untrusted `text` as a reason may show it: as it reads, unless it could forge a log line or run
    long (then quoted with `repr`, which escapes control characters, and shortened)."""
    if len(text) <= limit and text.isprintable() and " " not in text:
        return text
    return repr(text if len(text) <= limit else text[:limit] + "…")


class SigwebhookError(Exception):
    """Base of every error sigwebhook raises on purpose.

    `transient` marks failures that may go away on retry (a registry that is down or slow); their
    outcome must never be cached.
    """

    transient: bool = False

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason

    def __str__(self) -> str:
        return self.reason


# --- input that cannot be parsed -------------------------------------------------------------


class InvalidReference(SigwebhookError):
    """An image reference that does not follow the distribution reference grammar."""


class InvalidDigest(SigwebhookError):
    """A digest string that is not `algorithm:hex` with a supported algorithm and length."""


class KeyLoadError(SigwebhookError):
    """A public or private key that cannot be read, decrypted or is of an unsupported type."""


class ConfigError(SigwebhookError):
    """Settings or policy that cannot be loaded; the message names the field."""


class MalformedReview(SigwebhookError):
    """An AdmissionReview that is not one (the caller's bug: HTTP 400)."""


# --- registry -------------------------------------------------------------------------------


class RegistryError(SigwebhookError):
    """Base of every failure talking to an OCI registry."""


class RegistryUnavailable(RegistryError):
    """Connection refused, DNS failure, TLS failure, timeout, 5xx or 429: may go away on retry."""

    transient = True


class RegistryTimeout(RegistryUnavailable):
    """The registry did not answer within the time allowed."""


class RequestLimitReached(RegistryUnavailable):
    """sigwebhook's own bound on registry requests in flight was full until the answer was due: the
    request was never sent (too much cold work at once, not a registry failure)."""


class RegistryAuthError(RegistryError):
    """401/403 after every credential we have was tried."""


class ImageNotFound(RegistryError):
    """The image manifest (tag or digest) does not exist in the registry."""


class RegistryProtocolError(RegistryError):
    """The registry answered, but not as the distribution spec says: wrong digest, oversized body,
    unparseable manifest, missing headers."""


class RegistryWriteError(RegistryError):
    """A push (blob upload, manifest PUT) was refused."""


# --- Kubernetes API (app.kube maps the kubernetes client's errors to these) -----------------


class ClusterError(SigwebhookError):
    """Base of every failure talking to the Kubernetes API server."""


class ClusterUnavailable(ClusterError):
    """Connection refused, TLS failure, timeout, 5xx or 429 from the API server: may go away on retry."""

    transient = True


class ClusterAccessDenied(ClusterError):
    """401/403: the webhook's identity may not read the object (RBAC, or a bad token)."""


class WatchExpired(ClusterError):
    """410 Gone: the resourceVersion a watch resumes from is too old; the caller must list again."""


# --- signatures -----------------------------------------------------------------------------


class SignatureFormatError(SigwebhookError):
    """A signature object (manifest layer, payload, bundle, envelope) that cannot be parsed."""


class TrustUpdateError(SigwebhookError):
    """Refreshing a trusted root through TUF failed: the mirror, its metadata or the target."""


class SigningError(SigwebhookError):
    """Signing failed (bad key, password, or the signature could not be written)."""


class DeadlineExceeded(SigwebhookError):
    """The admission deadline passed before the registry answered."""

    transient = True


# --- trust and transparency (keyless, Rekor, timestamps) -------------------------------------


class NotVerified(SigwebhookError):
    """A signature that did not pass a verification step. `step` names the step, from a fixed set
    (`STEPS`), so that metrics can use it as a bounded label."""

    # In the order a signature meets them (`verdicts.furthest` ranks refusals by it).
    STEPS = ("material", "key", "signature", "tlog", "timestamp", "certificate", "sct", "identity")

    def __init__(self, step: str, reason: str, detail: str | None = None) -> None:
        super().__init__(reason, detail)
        self.step = step if step in self.STEPS else "material"
