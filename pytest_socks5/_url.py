"""Proxy URLs with credentials percent-encoded the way clients decode them."""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["proxy_url"]


def proxy_url(
    host: str,
    port: int,
    *,
    scheme: str = "socks5",
    username: str | None = None,
    password: str | None = None,
) -> str:
    """``scheme://[user[:password]@]host:port``, IPv6 hosts in brackets.

    Every character outside RFC 3986's "unreserved" set is percent-encoded in the
    credentials (``@`` → ``%40``, ``:`` → ``%3A``, ``%`` → ``%25``, non-ASCII as UTF-8), so
    ``requests``, ``httpx``, ``urllib3`` and curl decode them back to the exact bytes.
    """
    netloc = f"[{host}]" if ":" in host and not host.startswith("[") else host
    userinfo = ""
    if username is not None:
        userinfo = quote(username, safe="")
        if password is not None:
            userinfo += ":" + quote(password, safe="")
        userinfo += "@"
    return f"{scheme}://{userinfo}{netloc}:{port}"
