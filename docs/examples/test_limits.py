"""Reliability: idle tunnels, connection limits, record caps and hostile names."""

import pytest
import requests

from pytest_socks5 import Outcome


@pytest.mark.socks5(idle_timeout=0.2)
def test_an_idle_keep_alive_connection_is_closed(socks5_server, website):
    with requests.Session() as session:  # keeps its connection open between requests
        session.get(website.url, proxies={"http": socks5_server.url}, timeout=5)

        # Nothing moves for 0.2 s: the proxy closes the tunnel and says why.
        (record,) = socks5_server.wait_for_connections(1, ended=True)

    assert record.outcome is Outcome.IDLE_TIMEOUT
    assert record.closed_by == "server"


@pytest.mark.socks5(max_connections=1)
def test_one_connection_too_many(socks5_server, website):
    proxies = {"http": socks5_server.url}
    with requests.Session() as first, requests.Session() as second:
        first.get(website.url, proxies=proxies, timeout=5)  # stays open: keep-alive

        with pytest.raises(requests.ConnectionError):
            second.get(website.url, proxies=proxies, timeout=5)

    (refused,) = socks5_server.find_connections(outcome=Outcome.CONNECTION_LIMIT)
    assert refused.error == "refused at accept: 1 connection(s) open (max_connections=1)"


def test_only_the_latest_records_are_kept(socks5_server_factory, website):
    proxy = socks5_server_factory(max_records=2)
    for path in ("one", "two", "three"):
        requests.get(website.url + path, proxies={"http": proxy.url}, timeout=5)

    proxy.wait_for_connections(2, ended=True)
    assert len(proxy.connections) == 2
    assert proxy.dropped_records == 1


def test_hostile_names_are_recorded_exactly_and_shown_escaped(socks5_server_factory, website):
    proxy = socks5_server_factory(validator=lambda username, password: True)
    url = proxy.url_for(username="root\x1b[2J\nadmin", password="hunter2")
    requests.get(website.url, proxies={"http": url}, timeout=5)

    (record,) = proxy.wait_for_connections(1, ended=True)
    assert record.raw_username == b"root\x1b[2J\nadmin"  # exactly what was sent
    line = str(record)  # what logs and failed assertions show
    assert "user='root\\x1b[2J\\nadmin'" in line  # one line, the terminal is safe
    assert "hunter2" not in line  # and the password is never in it
