"""Showing text that came from a review: one line, with nothing that can pass for another line.

Container names, images and object names in an AdmissionReview are whatever the sender wrote. They
end up in places read line by line: the `status.message` that kubectl prints (one line per failing
container), the warnings, and the webhook's log. A newline, a carriage return, an ANSI escape, a
Unicode line separator or a bidirectional override in such a string could forge a line ("…: verified
by prod") or hide part of one. `printable` writes every such character as a Python-style escape
(`\\n`, `\\x1b`, `\\u2028`) and leaves all other text, including readable non-ASCII, as it is.

`clipped` bounds such text where it is echoed. Pure: no I/O. It does not quote: the text stays
where the message puts it.
"""

from __future__ import annotations

import unicodedata

# Unicode general categories that are not visible text: controls (Cc: C0, DEL, C1), format characters
# (Cf: bidi overrides, zero-width joiners), surrogates (Cs), private use (Co), unassigned (Cn), and the
# line and paragraph separators (Zl, Zp), which `str.splitlines` and many viewers break on.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def printable(text: str) -> str:
    """`text` with each invisible or line-breaking character written as an escape (`\\n`, `\\u202e`)."""
    if text.isprintable():  # the common case: nothing to escape (no Cc/Cf/Cs/Co/Cn/Z* but space)
        return text
    return "".join(_escape(ch) if unicodedata.category(ch) in _HIDDEN else ch for ch in text)


def clipped(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters followed by how long it was (`abc… (7340032 characters)`):
    what a review carries is echoed in answers, audit lines and logs, and must not make them huge."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def _escape(ch: str) -> str:
    # `unicode_escape` spells \n, \t, \x1b, \u2028 and lone surrogates alike, always in ASCII.
    return ch.encode("unicode_escape", "backslashreplace").decode("ascii")
