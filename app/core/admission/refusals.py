"""Why an image, or a whole object, was refused: a class from a fixed set, produced by the core next
to the message it explains.

Messages name policies, keys and images and quote what registries answered, and their wording may
change; the class does not. Metrics labels and the scan report's classes are read from it through
tables (`app.webhook.metrics`, `app.core.audits.report`), never from the text. An image outcome
that lists several reasons (one per failing policy) has the class of the first. Pure.
"""

from __future__ import annotations

from enum import StrEnum

from app.core.errors import (
    DeadlineExceeded,
    ImageNotFound,
    RegistryAuthError,
    RegistryError,
    RegistryUnavailable,
    SigwebhookError,
)


class Refusal(StrEnum):
    """Why an image was denied (or, for a warn-mode policy, would be), or a whole object was."""

    INVALID_REFERENCE = "invalid-reference"  # the image is not a reference
    UNMATCHED = "unmatched"  # no policy matches it (unmatched: deny)
    NO_USABLE_KEYS = "no-usable-keys"  # a matching policy has fewer usable keys than its threshold
    UNSIGNED = "unsigned"  # no signature at all
    UNTRUSTED_SIGNER = "untrusted-signer"  # signatures verified, by keys of other policies only
    INVALID_SIGNATURE = "invalid-signature"  # signatures found, none verified by the policy's keys
    TOO_FEW_SIGNERS = "too-few-signers"  # fewer distinct keys signed than the policy's threshold
    DEADLINE = "deadline"  # the admission deadline passed while verifying
    IMAGE_NOT_FOUND = "image-not-found"
    REGISTRY_AUTH = "registry-auth"  # refused after every credential was tried
    REGISTRY_UNAVAILABLE = "registry-unavailable"  # down, unreachable or too slow: may pass on retry
    REGISTRY_ERROR = "registry-error"  # answered, but not as the distribution spec says
    VERIFICATION_ERROR = "verification-error"  # another of sigwebhook's own errors while verifying
    INTERNAL = "internal"  # an unexpected exception (a bug, logged with its traceback)
    TOO_MANY_IMAGES = "too-many-images"  # the object is beyond the limits on work per review
    KIND_NOT_REVIEWED = "kind-not-reviewed"  # the webhook was called for a kind it does not review


_ERRORS: tuple[tuple[type[BaseException], Refusal], ...] = (  # most specific first
    (DeadlineExceeded, Refusal.DEADLINE),
    (ImageNotFound, Refusal.IMAGE_NOT_FOUND),
    (RegistryAuthError, Refusal.REGISTRY_AUTH),
    (RegistryUnavailable, Refusal.REGISTRY_UNAVAILABLE),
    (RegistryError, Refusal.REGISTRY_ERROR),
    (SigwebhookError, Refusal.VERIFICATION_ERROR),
)


def refusal_of(error: BaseException) -> Refusal:
    """The class of a verification that raised `error`, by its type."""
    return next((refusal for kind, refusal in _ERRORS if isinstance(error, kind)), Refusal.INTERNAL)
