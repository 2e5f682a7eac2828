"""Queries and assertions over a server's records, mixed into ``SOCKS5Server``.

Strategy: every assertion is a set of keyword criteria handed to the one matcher in
``_records.py``; what differs between them is the headline of the failure and the
hints. A failure always prints what was looked for, then every recorded connection,
closest first, with the fields that differ, so the cause can be read off the test report
without re-running. Nothing here blocks except :meth:`wait_for_connections`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from ._async_wait import wait_for_connections
from ._checks import fail_type, integer, optional, text
from ._criteria import check_criteria, criteria_text, show, value_matches
from ._protocol import AddressType, AuthMethod, describe
from ._recorder import Recorder
from ._records import ConnectionRecord, NoMatchingConnection

__all__ = ["RecordQueries"]


class _Named:
    """A predicate that prints as what it checks (``contains b'GET /'``)."""

    def __init__(self, name: str, test: Callable[[Any], bool]) -> None:
        self.__name__ = name
        self._test = test

    def __call__(self, value: Any) -> bool:
        return self._test(value)


def _is_ip_address(address_type: int | None) -> bool:
    return address_type in (AddressType.IPV4, AddressType.IPV6)


_is_ip_address.__name__ = "IPV4 or IPV6"


def _bytes(name: str, value: Any) -> bytes:
    """``value``, bytes-like, as bytes: text is refused (a payload is bytes)."""
    if not isinstance(value, bytes | bytearray | memoryview):
        hint = f" (did you mean {value.encode()!r}?)" if isinstance(value, str) else ""
        raise fail_type(name, 'bytes, such as b"hello"', value, hint)
    return bytes(value)


def _credential(name: str, value: Any) -> bytes | None:
    """A username or password to compare: ``None``, or text (as UTF-8) or bytes."""
    if value is None or isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise fail_type(name, "None, a str or bytes", value)
    return value.encode("utf-8")


def _tristate(name: str, value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise fail_type(name, "True, False or None (either)", value)
    return value


def _contains(data: bytes) -> _Named:
    return _Named(f"contains {show(data)}", lambda p: p is not None and data in p)


def _resolved(host: str) -> _Named | None:
    """A predicate for "one of the addresses ``host`` resolves to here", or ``None`` when
    ``host`` is a glob or a predicate, or does not resolve."""
    if any(c in host for c in "*?["):
        return None
    try:
        addresses = {str(ipaddress.ip_address(host))}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            return None
        addresses = {str(info[4][0]).split("%")[0] for info in infos}
    shown = ", ".join(sorted(addresses))
    return _Named(f"one of {shown} ({host})", lambda h: h in addresses)


def _authenticated(scheme: str | None) -> bool:
    return scheme in ("password", "userid")


_authenticated.__name__ = "'password' or 'userid'"


def _named_user(name: bytes) -> _Named:
    """The username (SOCKS 4: the USERID) ``name``, compared as the record decodes it."""
    text = name.decode("utf-8", "backslashreplace")
    return _Named(repr(text), lambda u: u == text)


_COUNT = optional(integer(low=1))
_HOST = optional(text)


class RecordQueries:
    """The record queries and assertions of :class:`~pytest_socks5.SOCKS5Server`."""

    _recorder: Recorder

    # -- queries ---------------------------------------------------------------------

    @property
    def connections(self) -> list[ConnectionRecord]:
        """A snapshot of every connection since the last reset, in accept order."""
        return list(self._recorder.snapshot())

    def find_connections(self, **criteria: Any) -> list[ConnectionRecord]:
        """Records matching every criterion: a field name with an exact value, a glob
        (``host="*.example.test"``) or a predicate (``port=lambda p: p > 1024``)."""
        __tracebackhide__ = True
        return self._recorder.find(**criteria)

    def wait_for_connections(
        self, count: int = 1, *, timeout: float = 5.0, ended: bool = False, **criteria: Any
    ) -> list[ConnectionRecord]:
        """Block until ``count`` matching connections exist (``ended=True``: and closed)."""
        __tracebackhide__ = True
        return self._recorder.wait_for(count, timeout=timeout, ended=ended, **criteria)

    async def wait_for_connections_async(
        self, count: int = 1, *, timeout: float = 5.0, ended: bool = False, **criteria: Any
    ) -> list[ConnectionRecord]:
        """:meth:`wait_for_connections` for async tests: awaits without blocking the loop."""
        __tracebackhide__ = True
        return await wait_for_connections(
            self._recorder, count, timeout=timeout, ended=ended, criteria=criteria
        )

    # -- the general assertions --------------------------------------------------------

    def assert_connected(self, *, count: int | None = None, **criteria: Any) -> ConnectionRecord:
        """Assert a connection matching ``criteria`` was made (exactly ``count`` of them if
        given); return the first. On failure, list what did connect, closest first."""
        __tracebackhide__ = True
        where = criteria_text(criteria) or "anything"
        return self._expect(f"a connection matching {where}", criteria, count)

    def assert_not_connected(self, **criteria: Any) -> None:
        """Assert no connection matches ``criteria``."""
        __tracebackhide__ = True
        found = self._recorder.find(**criteria)
        if found:
            self._fail(
                f"expected no connection matching {criteria_text(criteria)}, found {len(found)}",
                criteria,
            )

    def assert_no_connections(self) -> None:
        """Assert nothing connected to the proxy at all."""
        __tracebackhide__ = True
        if self._recorder.snapshot():
            self._fail("expected no connections", {})

    # -- DNS: socks5 or socks5h --------------------------------------------------------

    def assert_remote_dns(
        self, host: str, *, count: int | None = None, **criteria: Any
    ) -> ConnectionRecord:
        """Assert the client sent the name ``host`` (a glob is fine) for the proxy to
        resolve — ``ATYP`` 0x03, what ``socks5h://`` asks for — and return the record."""
        __tracebackhide__ = True
        text("assert_remote_dns(): host", host)
        want = {"host": host, "address_type": AddressType.DOMAIN, **criteria}
        hints = [
            _sent_an_address(r, host)
            for r in self._recorder.find(**criteria)
            if r.remote_dns is False
        ]
        extra = f", {criteria_text(criteria)}" if criteria else ""
        return self._expect(
            f"the client to send the name {host!r} to the proxy (ATYP 0x03 DOMAIN){extra}",
            want,
            count,
            hints,
        )

    def assert_local_dns(
        self, host: str | None = None, *, count: int | None = None, **criteria: Any
    ) -> ConnectionRecord:
        """Assert the client resolved the name itself and sent an address — ``ATYP`` 0x01
        or 0x04, what ``socks5://`` asks for — and return the record.

        With ``host``, no request may carry that name, and the address sent must be one
        that ``host`` resolves to here (checked when it resolves in the test's process).
        """
        __tracebackhide__ = True
        _HOST("assert_local_dns(): host", host)
        check_criteria(criteria, ConnectionRecord)
        extra = f", {criteria_text(criteria)}" if criteria else ""
        if host is not None:
            leaked = [
                r
                for r in self._recorder.find(**criteria)
                if r.remote_dns and value_matches(r.host, host)
            ]
            if leaked:
                self._fail(
                    f"expected the client to resolve {host!r} itself{extra}, but it sent the "
                    f"name to the proxy (ATYP 0x03 DOMAIN) in {len(leaked)} connection(s)",
                    {"address_type": _is_ip_address, **criteria},
                    [
                        "socks5h:// behaviour (or a client that always sends names, as httpx "
                        "does): requests and curl resolve locally with socks5://"
                    ],
                )
        want: dict[str, Any] = {"address_type": _is_ip_address, **criteria}
        if host is not None and (resolved := _resolved(host)) is not None:
            want["host"] = resolved
        what = repr(host) if host is not None else "the name"
        return self._expect(
            f"the client to resolve {what} itself and send an address (ATYP 0x01 or 0x04)" + extra,
            want,
            count,
        )

    # -- authentication ----------------------------------------------------------------

    def assert_auth(
        self,
        username: str | bytes | None = None,
        password: str | bytes | None = None,
        *,
        authenticated: bool | None = True,
        count: int | None = None,
        **criteria: Any,
    ) -> ConnectionRecord:
        """Assert a connection authenticated (``auth_scheme`` ``"password"``: SOCKS5
        RFC 1929, HTTP ``Proxy-Authorization: Basic``; ``"userid"``: a SOCKS 4 USERID the
        server checked), with these credentials if given (``username`` is the SOCKS 4
        USERID; text is compared as UTF-8 bytes), and that it passed
        (``authenticated=False``: that it was refused; ``None``: either)."""
        __tracebackhide__ = True
        name = _credential("assert_auth(): username", username)
        secret = _credential("assert_auth(): password", password)
        _tristate("assert_auth(): authenticated", authenticated)
        want: dict[str, Any] = {"auth_scheme": _authenticated}
        if name is not None:
            want["username"] = _named_user(name)
        if secret is not None:
            want["raw_password"] = secret
        if authenticated is not None:
            want["authenticated"] = authenticated
        want.update(criteria)
        hints = []
        for r in self._recorder.find(**criteria):
            if r.version == 5 and AuthMethod.USERNAME_PASSWORD not in r.offered_methods:
                offered = ", ".join(f"0x{m:02x}" for m in r.offered_methods) or "nothing"
                hints.append(
                    f"#{r.id}: the client offered {offered}, not 0x02 (username/password): "
                    "it had no credentials to send"
                )
            elif r.protocol == "http" and r.raw_username is None:
                hints.append(
                    f"#{r.id}: the client sent no Proxy-Authorization: Basic credentials"
                    + (" (the server asked for none)" if r.authenticated is None else "")
                )
            elif r.protocol == "socks4" and password is not None:
                hints.append(f"#{r.id}: SOCKS 4 carries a USERID, never a password")
            elif r.authenticated is False and authenticated:
                hints.append(f"#{r.id}: the proxy refused the credentials it was sent")
        shown = {k: v for k, v in want.items() if k != "auth_scheme"}
        return self._expect(
            "a connection that authenticated"
            + (f" matching {criteria_text(shown)}" if shown else ""),
            want,
            count,
            hints,
        )

    def assert_no_auth(self, *, count: int | None = None, **criteria: Any) -> ConnectionRecord:
        """Assert a connection was let in without authentication (``auth_scheme``
        ``"none"``: SOCKS5 method 0x00; HTTP: the server asked for no credentials;
        SOCKS 4: the server checked no USERID)."""
        __tracebackhide__ = True
        want = {"auth_scheme": "none", **criteria}
        extra = f" matching {criteria_text(criteria)}" if criteria else ""
        return self._expect(f"a connection without authentication{extra}", want, count)

    # -- payload ---------------------------------------------------------------------

    def assert_sent(
        self, data: bytes, *, count: int | None = None, **criteria: Any
    ) -> ConnectionRecord:
        """Assert the client sent ``data`` (bytes-like; text is refused) through the
        tunnel (within the captured payload; needs ``capture_payload``)."""
        __tracebackhide__ = True
        data = _bytes("assert_sent(): data", data)
        return self._assert_payload("payload_from_client", "client sent", data, count, criteria)

    def assert_received(
        self, data: bytes, *, count: int | None = None, **criteria: Any
    ) -> ConnectionRecord:
        """Assert the destination sent ``data`` (bytes-like; text is refused) back to the
        client through the tunnel (within the captured payload; needs ``capture_payload``)."""
        __tracebackhide__ = True
        data = _bytes("assert_received(): data", data)
        return self._assert_payload("payload_to_client", "client received", data, count, criteria)

    def _assert_payload(
        self,
        field_name: str,
        verb: str,
        data: bytes,
        count: int | None,
        criteria: Mapping[str, Any],
    ) -> ConnectionRecord:
        __tracebackhide__ = True
        want = {field_name: _contains(data), **criteria}
        hints = []
        records = self._recorder.find(**criteria)
        if records and all(getattr(r, field_name) is None for r in records):
            hints.append(
                "payload capture is off: use @pytest.mark.socks5(capture_payload=65536), "
                "SOCKS5Server(capture_payload=…), or the socks5_capture_payload option"
            )
        for r in records:
            captured = getattr(r, field_name)
            total = (
                r.bytes_from_client if field_name == "payload_from_client" else r.bytes_to_client
            )
            if captured is not None and len(captured) < total:
                hints.append(f"#{r.id}: only the first {len(captured)} of {total} bytes were kept")
        extra = f", {criteria_text(criteria)}" if criteria else ""
        return self._expect(f"a connection whose {verb} {show(data)}{extra}", want, count, hints)

    # -- shared ----------------------------------------------------------------------

    def _expect(
        self,
        what: str,
        criteria: Mapping[str, Any],
        count: int | None,
        hints: Iterable[str] = (),
    ) -> ConnectionRecord:
        __tracebackhide__ = True
        if count == 0 and type(count) is int:
            raise ValueError(
                "count must be None or a whole number >= 1, got 0: for none, "
                "use assert_not_connected()"
            )
        _COUNT("count", count)
        found = self._recorder.find(**criteria)
        if found and (count is None or len(found) == count):
            return found[0]
        if count is None:
            headline = f"expected {what}"
        elif what.startswith("a connection "):
            headline = f"expected exactly {count} connection(s) {what[len('a connection ') :]}"
        else:
            headline = f"expected {what}, in exactly {count} connection(s)"
        if found:
            headline += f" (found {len(found)})"
        raise self._failure(headline, criteria, hints)

    def _fail(
        self, headline: str, criteria: Mapping[str, Any], hints: Iterable[str] = ()
    ) -> NoReturn:
        __tracebackhide__ = True
        raise self._failure(headline, criteria, hints)

    def _failure(
        self, headline: str, criteria: Mapping[str, Any], hints: Iterable[str] = ()
    ) -> NoMatchingConnection:
        text = headline + "\n" + self._recorder.explain(criteria)
        for hint in dict.fromkeys(hints):
            text += "\nhint: " + hint
        return NoMatchingConnection(text)


#: What sends the name instead of an address, by the protocol the client spoke.
_SENDS_THE_NAME = {
    "socks4": "socks4:// behaviour (SOCKS 4 carries only an address); socks4a:// sends the name",
    "http": "an HTTP client sends the name it was given, so it was given an address",
}
_SENDS_THE_NAME_SOCKS5 = (
    "socks5:// behaviour; requests and curl send the name with socks5h:// "
    "(curl: --socks5-hostname)"
)


def _sent_an_address(r: ConnectionRecord, host: str) -> str:
    """A hint for a record whose client sent an address where ``host`` was wanted: it
    may be another destination altogether, so it says "if"."""
    sent = f"{describe(r.address_type or 0, AddressType)} {r.host}"
    protocol = r.protocol or ("socks4" if r.version == 4 else "socks5")
    why = _SENDS_THE_NAME.get(protocol, _SENDS_THE_NAME_SOCKS5)
    return f"#{r.id}: the client sent the address {sent}, not a name; if it was {host!r}: {why}"
