"""Point the proxy environment variables at a server for a while, then put them back.

Strategy: clients read ``ALL_PROXY``, ``HTTP_PROXY`` and ``HTTPS_PROXY`` — some only the
lower-case forms (curl ignores an upper-case ``HTTP_PROXY``), some either — so every form
is set. ``NO_PROXY`` is cleared for the duration (or set to what the test asks), because
a CI machine's ``NO_PROXY=localhost,127.0.0.1`` would quietly send loopback traffic
around the proxy. On exit each variable gets back exactly its old value, or is removed
if it had none.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from types import TracebackType

from ._checks import instance, optional, text

__all__ = ["NO_PROXY_VARIABLES", "PROXY_VARIABLES", "ProxyEnvironment", "check_no_proxy"]

PROXY_VARIABLES = (
    "ALL_PROXY",
    "all_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
)
NO_PROXY_VARIABLES = ("NO_PROXY", "no_proxy")

#: ``no_proxy=``: the text for ``NO_PROXY`` (an environment variable holds text only).
check_no_proxy = optional(text)
_ENVIRON = optional(instance(MutableMapping, "a mutable mapping (such as os.environ)"))


class ProxyEnvironment:
    """A context manager setting the proxy variables to ``url``; ``__enter__`` returns it.

    :param no_proxy: the value for ``NO_PROXY``/``no_proxy`` while inside (``None``:
        unset them).
    """

    def __init__(
        self,
        url: str,
        *,
        no_proxy: str | None = None,
        environ: MutableMapping[str, str] | None = None,
    ) -> None:
        self.url: str = text("ProxyEnvironment: url", url)
        self.no_proxy: str | None = check_no_proxy("ProxyEnvironment: no_proxy", no_proxy)
        environ = _ENVIRON("ProxyEnvironment: environ", environ)
        self._environ = os.environ if environ is None else environ
        self._saved: dict[str, str | None] | None = None

    def __enter__(self) -> str:
        if self._saved is not None:
            raise RuntimeError("this proxy environment is already active")
        env = self._environ
        self._saved = {name: env.get(name) for name in PROXY_VARIABLES + NO_PROXY_VARIABLES}
        for name in PROXY_VARIABLES:
            env[name] = self.url
        for name in NO_PROXY_VARIABLES:
            if self.no_proxy is None:
                env.pop(name, None)
            else:
                env[name] = self.no_proxy
        return self.url

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        saved, self._saved = self._saved, None
        assert saved is not None
        for name, value in saved.items():
            if value is None:
                self._environ.pop(name, None)
            else:
                self._environ[name] = value
