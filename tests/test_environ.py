"""The proxy environment helper sets every form of the variables and restores them."""

from __future__ import annotations

import pytest

from pytest_socks5 import SOCKS5Server
from pytest_socks5._environ import NO_PROXY_VARIABLES, PROXY_VARIABLES, ProxyEnvironment


def test_sets_every_form_clears_no_proxy_and_restores() -> None:
    env = {"HTTP_PROXY": "http://corp:3128", "no_proxy": "localhost", "PATH": "/bin"}
    with ProxyEnvironment("socks5://127.0.0.1:1080", environ=env) as url:
        assert url == "socks5://127.0.0.1:1080"
        assert {name: env[name] for name in PROXY_VARIABLES} == dict.fromkeys(PROXY_VARIABLES, url)
        assert not set(NO_PROXY_VARIABLES) & set(env)
    assert env == {"HTTP_PROXY": "http://corp:3128", "no_proxy": "localhost", "PATH": "/bin"}


def test_no_proxy_can_be_given() -> None:
    env: dict[str, str] = {}
    with ProxyEnvironment("socks5://h:1", no_proxy="internal.test", environ=env):
        assert env["NO_PROXY"] == env["no_proxy"] == "internal.test"
    assert env == {}


def test_restores_after_an_exception_and_refuses_reentry() -> None:
    env: dict[str, str] = {}
    helper = ProxyEnvironment("socks5://h:1", environ=env)

    def fail_inside() -> None:
        with helper:
            assert env["ALL_PROXY"] == "socks5://h:1"
            with pytest.raises(RuntimeError, match="already active"), helper:
                pass
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        fail_inside()
    assert env == {}


def test_server_proxy_env_uses_its_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in PROXY_VARIABLES + NO_PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALL_PROXY", "before")
    with SOCKS5Server() as server:
        with server.proxy_env() as url:
            assert url == server.url == os.environ["all_proxy"]  # noqa: SIM112 (the lower-case form is set too)
        with server.proxy_env(remote_dns=True):
            assert os.environ["HTTPS_PROXY"] == server.url_remote_dns
    assert os.environ["ALL_PROXY"] == "before"
    assert "all_proxy" not in os.environ
