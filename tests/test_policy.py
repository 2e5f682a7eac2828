"""Pure policy: auth decisions, proxy URLs, the dial-error table, host mapping."""

from __future__ import annotations

import errno
import socket
from urllib.parse import unquote, urlsplit

import pytest

from pytest_socks5 import AuthMethod, Reply, proxy_url
from pytest_socks5._auth import AuthPolicy
from pytest_socks5._dial_errors import reply_for_dial_error
from pytest_socks5._hosts import Unresolvable, map_destination

# -- auth ---------------------------------------------------------------------------


def test_no_users_means_no_authentication() -> None:
    policy = AuthPolicy.build()
    assert policy.select_method([0x00, 0x02]) == AuthMethod.NO_AUTHENTICATION_REQUIRED
    assert policy.select_method([0x02]) == AuthMethod.NO_ACCEPTABLE_METHODS


def test_users_require_username_password() -> None:
    policy = AuthPolicy.build({"alice": "s3cret"})
    assert policy.select_method([0x00, 0x02]) == AuthMethod.USERNAME_PASSWORD
    assert policy.select_method([0x00]) == AuthMethod.NO_ACCEPTABLE_METHODS
    assert policy.check(b"alice", b"s3cret")
    assert not policy.check(b"alice", b"s3cre")
    assert not policy.check(b"alic", b"s3cret")
    assert not policy.check(b"", b"")


def test_users_are_compared_as_utf8_bytes() -> None:
    policy = AuthPolicy.build([("ünï", "pässwörd")])
    assert policy.check("ünï".encode(), "pässwörd".encode())
    assert not policy.check("ünï".encode("latin-1"), "pässwörd".encode("latin-1"))


def test_bytes_users_are_taken_as_is() -> None:
    policy = AuthPolicy.build({b"\xff": b"\x00"})
    assert policy.check(b"\xff", b"\x00")


def test_validator_gets_text_with_undecodable_bytes_preserved() -> None:
    seen = []
    policy = AuthPolicy.build(validator=lambda u, p: seen.append((u, p)) or True)
    assert policy.check(b"\xff", b"pw")
    assert seen == [("\udcff", "pw")]


def test_credentials_longer_than_rfc1929_allows_are_refused() -> None:
    with pytest.raises(ValueError, match="255"):
        AuthPolicy.build({"a" * 256: "x"})


# -- URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "password"),
    [("alice", "s3cret"), ("a@b", "p:w%d"), ("ünï", "pässwörd"), ("a b/c?d#e", "[]!$&'()*+,;=")],
)
def test_proxy_url_credentials_decode_back_exactly(user: str, password: str) -> None:
    url = proxy_url("127.0.0.1", 1080, username=user, password=password)
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1"
    assert parts.port == 1080
    assert unquote(parts.username or "") == user
    assert unquote(parts.password or "") == password


def test_proxy_url_shapes() -> None:
    assert proxy_url("::1", 1) == "socks5://[::1]:1"
    assert proxy_url("localhost", 2, scheme="socks5h") == "socks5h://localhost:2"
    assert proxy_url("127.0.0.1", 3, username="u") == "socks5://u@127.0.0.1:3"
    assert proxy_url("127.0.0.1", 3, username="u", password="") == "socks5://u:@127.0.0.1:3"


# -- dial errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "reply"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), Reply.CONNECTION_REFUSED),
        (OSError(errno.ENETUNREACH, "unreachable"), Reply.NETWORK_UNREACHABLE),
        (OSError(errno.ENETDOWN, "down"), Reply.NETWORK_UNREACHABLE),
        (OSError(errno.EHOSTUNREACH, "no route"), Reply.HOST_UNREACHABLE),
        (socket.gaierror(socket.EAI_NONAME, "unknown name"), Reply.HOST_UNREACHABLE),
        (TimeoutError(), Reply.TTL_EXPIRED),
        (OSError(errno.ETIMEDOUT, "timed out"), Reply.TTL_EXPIRED),
        (PermissionError(errno.EACCES, "denied"), Reply.CONNECTION_NOT_ALLOWED),
        (OSError(errno.EAFNOSUPPORT, "family"), Reply.ADDRESS_TYPE_NOT_SUPPORTED),
        (OSError(errno.EMFILE, "too many files"), Reply.GENERAL_FAILURE),
        (OSError("no errno"), Reply.GENERAL_FAILURE),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.name,
)
def test_dial_errors_map_to_rep_codes(exc: BaseException, reply: Reply) -> None:
    assert reply_for_dial_error(exc) == reply


# -- host map --------------------------------------------------------------------------


def test_host_map() -> None:
    host_map = {
        "api.example.test": "127.0.0.1:8080",
        "db.example.test:5432": "[::1]:6543",
        "web.example.test": "127.0.0.2",
        "gone.example.test": None,
    }
    assert map_destination(host_map, "api.example.test", 443) == ("127.0.0.1", 8080)
    assert map_destination(host_map, "API.Example.Test.", 443) == ("127.0.0.1", 8080)
    assert map_destination(host_map, "db.example.test", 5432) == ("::1", 6543)
    assert map_destination(host_map, "db.example.test", 5433) == ("db.example.test", 5433)
    assert map_destination(host_map, "web.example.test", 80) == ("127.0.0.2", 80)
    assert map_destination(host_map, "other.test", 80) == ("other.test", 80)
    with pytest.raises(Unresolvable):
        map_destination(host_map, "gone.example.test", 80)
