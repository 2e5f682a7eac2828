"""Proxy URLs with credentials percent-encoded the way clients decode them.

Strategy: one list of the schemes the server speaks (:data:`SCHEMES`) and one check of a
URL's parts (:func:`check_url_parts`), which :func:`proxy_url` and ``url_for()`` both
run where they are called, so a URL no client could use is refused with the valid values
listed instead of being built.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import quote

from ._checks import choice, fail_value, integer, optional, text

__all__ = ["SCHEMES", "check_url_parts", "proxy_url"]

#: The URL schemes the server answers on its one port.
SCHEMES = ("socks5", "socks5h", "socks4", "socks4a", "http")
_SCHEME = choice(*SCHEMES)
_PORT = integer(low=1, high=65535, what="a port")
_CREDENTIAL = optional(text)
#: Characters a URL's host cannot hold (they end it, or are not in any name).
_NOT_IN_HOST = frozenset("/?#@[]\\")


def _host(name: str, value: Any) -> str:
    """A host name or an IP address (an IPv6 one perhaps in brackets)."""
    text(name, value)
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    good = bool(bare) and not any(c in _NOT_IN_HOST or c.isspace() for c in bare)
    if good and ":" in bare:  # only an IPv6 address has colons
        try:
            ipaddress.IPv6Address(bare)
        except ValueError:
            good = False
    if not good:
        raise fail_value(name, "a host name or an IP address", value)
    return str(value)


def check_url_parts(caller: str, *, scheme: Any, username: Any, password: Any) -> None:
    """Check a proxy URL's scheme and credentials, naming ``caller`` (``"url_for()"``)."""
    _SCHEME(f"{caller}: scheme", scheme)
    _CREDENTIAL(f"{caller}: username", username)
    _CREDENTIAL(f"{caller}: password", password)
    if password is not None and username is None:
        raise ValueError(
            f"{caller}: password needs a username (a URL holds a password only after a "
            "user name, as user:password@host), got username=None"
        )


def proxy_url(
    host: str,
    port: int,
    *,
    scheme: str = "socks5",
    username: str | None = None,
    password: str | None = None,
) -> str:
    """``scheme://[user[:password]@]host:port``, IPv6 hosts in brackets.

    ``scheme`` is one of ``socks5``, ``socks5h``, ``socks4``, ``socks4a`` and ``http``;
    ``port`` is 1 to 65535; a ``password`` needs a ``username``. Every character outside
    RFC 3986's "unreserved" set is percent-encoded in the credentials (``@`` → ``%40``,
    ``:`` → ``%3A``, ``%`` → ``%25``, non-ASCII as UTF-8), so ``requests``, ``httpx``,
    ``urllib3`` and curl decode them back to the exact bytes.

    An IPv6 host's zone is kept as given after a bare ``%`` (``[fe80::1%eth0]``), not in
    RFC 6874's ``%25`` form: ``urllib.parse`` (and python-socks, httpx-socks,
    aiohttp-socks, which use it) and httpx take the zone after the ``%`` as it is, so
    ``%25eth0`` would send them to an interface named ``25eth0``; curl reads both.
    """
    _host("proxy_url(): host", host)
    _PORT("proxy_url(): port", port)
    check_url_parts("proxy_url()", scheme=scheme, username=username, password=password)
    netloc = f"[{host}]" if ":" in host and not host.startswith("[") else host
    userinfo = ""
    if username is not None:
        userinfo = quote(username, safe="")
        if password is not None:
            userinfo += ":" + quote(password, safe="")
        userinfo += "@"
    return f"{scheme}://{userinfo}{netloc}:{port}"
