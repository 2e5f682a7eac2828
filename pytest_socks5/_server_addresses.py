"""Where a server is reached: its host, port and proxy URLs.

Strategy: a mixin of :class:`~pytest_socks5.SOCKS5Server`, like the record queries beside
it. Every URL is built by :func:`~pytest_socks5.proxy_url` from the bound port and the
first configured user, so the SOCKS and HTTP forms can never disagree.
"""

from __future__ import annotations

import os

from ._engine import Engine
from ._hosts import describe_target
from ._url import check_url_parts, proxy_url

__all__ = ["ServerAddresses", "listen_failure"]


def listen_failure(host: str, port: int, exc: OSError, given: str) -> str:
    """``cannot listen on 127.0.0.1:8080 (<given>): Address already in use``: a start that
    failed, in one line, naming where the address was given (a user's mistake: a busy
    port, an address that is not this machine's)."""
    where = describe_target((host, port))
    reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror
    return f"cannot listen on {where} ({given}): {reason or exc}"


class ServerAddresses:
    """The host, port and proxy URLs of a running server."""

    _engine: Engine
    _listen_host: str

    @property
    def host(self) -> str:
        """The host clients should use: the listen address (``localhost`` for dual-stack)."""
        return self._listen_host if self._listen_host != "dual" else "localhost"

    @property
    def port(self) -> int:
        """The bound port (the same on every listener of a dual-stack server)."""
        if not self._engine.sockets:
            raise RuntimeError("the server is not started yet")
        return self._engine.sockets[0][1]

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``."""
        return (self.host, self.port)

    @property
    def listen_addresses(self) -> list[tuple[str, int]]:
        """Every bound socket address (two for a dual-stack server)."""
        return list(self._engine.sockets)

    def url_for(
        self, scheme: str = "socks5", *, username: str | None = None, password: str | None = None
    ) -> str:
        """A proxy URL with the given scheme (``socks5``, ``socks5h``, ``socks4``,
        ``socks4a`` or ``http``) and credentials (percent-encoded; a ``password`` needs a
        ``username``)."""
        check_url_parts("url_for()", scheme=scheme, username=username, password=password)
        return proxy_url(self.host, self.port, scheme=scheme, username=username, password=password)

    @property
    def url(self) -> str:
        """``socks5://[user:password@]host:port``: by convention the client resolves
        names itself (requests, curl); some clients (httpx) send names anyway.

        With users configured, the first user's credentials are included.
        """
        return self._url("socks5")

    @property
    def url_remote_dns(self) -> str:
        """``socks5h://…`` — the client sends names to the proxy to resolve."""
        return self._url("socks5h")

    @property
    def http_url(self) -> str:
        """``http://[user:password@]host:port``: the same port, as an HTTP proxy."""
        return self._url("http")

    @property
    def url_masked(self) -> str:
        """:attr:`url` with the password shown as ``***``: for logs and reprs, where a
        password must not appear unless asked for (with :attr:`url`)."""
        user = self._engine.config.auth.first_user()
        if user is None:
            return self.url_for()
        return self.url_for(username=user[0]).replace("@", ":***@", 1)

    def _url(self, scheme: str) -> str:
        user = self._engine.config.auth.first_user()
        if user is None:
            return self.url_for(scheme)
        return self.url_for(scheme, username=user[0], password=user[1])
