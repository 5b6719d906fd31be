"""Keyless identities: who a Fulcio certificate says signed, and whether a policy's identity matches it.

Fulcio puts the OIDC identity in the certificate (fulcio `docs/oid-info.md`, `docs/certificate-specification.md`):
- the subject: the Subject Alternative Name — a URI (CI workflows, SPIFFE), an email address, or an
  OtherName of type 1.3.6.1.4.1.57264.1.7 holding a UTF8String (user names). As sigstore-go's
  `SummarizeCertificate`, the identity is the first URI, else the first email, else that OtherName;
- the issuer: extension 1.3.6.1.4.1.57264.1.8 (a DER UTF8String), or the deprecated .1.1 (raw bytes).
  Fulcio writes both. When both are present they must agree (sigstore-go takes whichever comes last,
  cosign's legacy path reads only .1.1: a certificate where they differ means different things to
  different verifiers, so it is refused).

Matching (`IdentityMatcher`): subject and issuer each exact, or a regular expression that must match the
*whole* value (`re.fullmatch`). cosign and sigstore-go use Go's unanchored `MatchString`, under which
`https://github.com/acme/` also matches `https://evil.example/?https://github.com/acme/`; anchoring is
what policies mean. Python's `re` syntax is close to Go's RE2 for such patterns. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cryptography import x509

from app.core import der
from app.core.errors import ConfigError, SignatureFormatError

ISSUER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
LEGACY_ISSUER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
USERNAME_SAN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7")
MAX_IDENTITY_LENGTH = 4096  # no real identity comes close; bounds what a pattern is run against


@dataclass(frozen=True)
class CertificateIdentity:
    """The identity a signing certificate was issued to, and the OIDC issuer that vouched for it."""

    subject: str
    issuer: str

    def __str__(self) -> str:
        return f"{self.subject} (issuer {self.issuer})"


def identity_of(certificate: x509.Certificate) -> CertificateIdentity:
    """The Fulcio identity in `certificate`; `SignatureFormatError` when it has none."""
    return CertificateIdentity(_subject(certificate), _issuer(certificate))


@dataclass(frozen=True)
class Pattern:
    """One side of an identity: an exact value, or a regular expression matching the whole value."""

    text: str
    is_regexp: bool = False
    _compiled: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, exact: str | None, regexp: str | None, what: str) -> Pattern:
        """The pattern from an exact value or a regexp (exactly one); `ConfigError` naming `what`."""
        if (exact is None) == (regexp is None) or not (exact or regexp):
            raise ConfigError(f"{what}: give exactly one of the exact value or the regular expression")
        if exact is not None:
            return cls(exact)
        assert regexp is not None
        try:
            return cls(regexp, True, re.compile(regexp))
        except re.error as exc:
            raise ConfigError(f"{what}: invalid regular expression {regexp[:80]!r}: {exc}") from exc

    def matches(self, value: str) -> bool:
        if len(value) > MAX_IDENTITY_LENGTH:
            return False
        if self._compiled is None:
            return value == self.text
        return self._compiled.fullmatch(value) is not None

    def __str__(self) -> str:
        return f"~/{self.text}/" if self.is_regexp else self.text


@dataclass(frozen=True)
class IdentityMatcher:
    """A keyless identity a policy trusts: subject and issuer patterns."""

    subject: Pattern
    issuer: Pattern

    @classmethod
    def build(
        cls,
        subject: str | None = None,
        subject_regexp: str | None = None,
        issuer: str | None = None,
        issuer_regexp: str | None = None,
        where: str = "keyless identity",
    ) -> IdentityMatcher:
        return cls(
            Pattern.of(subject, subject_regexp, f"{where}: subject/subjectRegExp"),
            Pattern.of(issuer, issuer_regexp, f"{where}: issuer/issuerRegExp"),
        )

    def matches(self, identity: CertificateIdentity) -> bool:
        return self.subject.matches(identity.subject) and self.issuer.matches(identity.issuer)

    def __str__(self) -> str:
        return f"{self.subject} (issuer {self.issuer})"


def _subject(certificate: x509.Certificate) -> str:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as exc:
        raise SignatureFormatError("signing certificate has no subject alternative name") from exc
    for kind in (x509.UniformResourceIdentifier, x509.RFC822Name):
        values = names.get_values_for_type(kind)
        if values:
            return values[0]
    for other in names.get_values_for_type(x509.OtherName):
        if other.type_id == USERNAME_SAN_OID:
            return der.utf8_string(other.value, "username subject alternative name")
    raise SignatureFormatError("signing certificate has no URI, email or username identity")


def _issuer(certificate: x509.Certificate) -> str:
    current = _extension(certificate, ISSUER_OID)
    legacy = _extension(certificate, LEGACY_ISSUER_OID)
    issuer = der.utf8_string(current, "OIDC issuer extension") if current is not None else None
    if legacy is not None:
        try:
            old = legacy.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SignatureFormatError("signing certificate's legacy issuer is not text") from exc
        if issuer is not None and old != issuer:
            raise SignatureFormatError("signing certificate names two different OIDC issuers")
        issuer = old
    if not issuer:
        raise SignatureFormatError("signing certificate names no OIDC issuer (not a Fulcio certificate)")
    return issuer


def _extension(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    try:
        value = certificate.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    assert isinstance(value, x509.UnrecognizedExtension)
    return value.value
