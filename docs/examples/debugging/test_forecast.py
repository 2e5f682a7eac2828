"""A test that fails through the proxy: the service it fetches from is not running."""

import socket

import httpx
import pytest


def fetch_forecast(proxy_url, port):
    with httpx.Client(proxy=proxy_url, timeout=5) as client:
        return client.get(f"http://localhost:{port}/forecast").text


@pytest.fixture
def forecast_port():
    """The port of a forecast service that was never started: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_forecast_through_the_proxy(socks5_server, forecast_port):
    assert fetch_forecast(socks5_server.url, forecast_port) == "sunny"
