"""Showing what a hostile client sent, safely: one printable line, nothing lost.

Strategy: a domain name or a username is whatever bytes the client chose — NUL, ANSI
escape sequences, a line separator that splits a log line in two, a right-to-left
override that makes a log line lie, bytes that are not UTF-8 at all. Records keep those
bytes exactly; everything that *displays* a record goes through this module, which turns
every character that is not printable into an escape, so a log line stays one line, a
terminal shows what was sent instead of obeying it, and the escaped text maps back to
exactly one byte string (and a password in an RFC 1929 request is shown as ``*``, one
per byte: :func:`redact_auth_request`):

* ``\\\\`` is a backslash (so the escapes below are never ambiguous);
* ``\\t``, ``\\n``, ``\\r`` and ``\\xNN`` (``NN`` < 80) are the ASCII controls;
* ``\\xNN`` with ``NN`` ≥ 80 is a *byte* that is not part of valid UTF-8;
* ``\\uNNNN`` and ``\\UNNNNNNNN`` are other non-printable characters (C1 controls,
  format characters such as U+202E, line and paragraph separators, unassigned code
  points, spaces other than U+0020).

Pure functions, no I/O.
"""

from __future__ import annotations

__all__ = ["escape_bytes", "escape_text", "quote_bytes", "quote_text", "redact_auth_request"]

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\"}


def _escape_char(char: str, *, raw_bytes: bool) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    if char.isprintable():
        return char
    code = ord(char)
    if raw_bytes and 0xDC80 <= code <= 0xDCFF:  # a byte surrogateescape kept for us
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _escape(text: str, *, raw_bytes: bool) -> str:
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape_char(c, raw_bytes=raw_bytes) for c in text)


def escape_text(text: str) -> str:
    """``text`` as one printable line: backslashes doubled, non-printable characters
    escaped (see the module docstring for the forms)."""
    return _escape(text, raw_bytes=False)


def escape_bytes(raw: bytes) -> str:
    """``raw`` decoded as UTF-8 for display: valid characters as in :func:`escape_text`,
    every byte that is not valid UTF-8 as ``\\xNN``."""
    return _escape(raw.decode("utf-8", "surrogateescape"), raw_bytes=True)


def quote_text(text: str) -> str:
    """:func:`escape_text` in single quotes (a quote inside is escaped as ``\\'``)."""
    return "'" + escape_text(text).replace("'", "\\'") + "'"


def quote_bytes(raw: bytes) -> str:
    """:func:`escape_bytes` in single quotes (a quote inside is escaped as ``\\'``)."""
    return "'" + escape_bytes(raw).replace("'", "\\'") + "'"


def redact_auth_request(data: bytes) -> bytes:
    """An RFC 1929 request with each password byte replaced by ``*`` (same length)."""
    if len(data) < 2:
        return data
    plen_at = 2 + data[1]
    if len(data) <= plen_at:
        return data
    start = plen_at + 1
    end = min(len(data), start + data[plen_at])
    return data[:start] + b"*" * (end - start) + data[end:]
