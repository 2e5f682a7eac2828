"""How-to: keep tests off the internet, and let chosen destinations through."""

import pytest
import requests

from pytest_socks5 import Command, Reply, Rule


def test_outside_addresses_are_refused(socks5_server):
    proxies = {"http": socks5_server.url_remote_dns}

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get("http://www.example.com/", proxies=proxies, timeout=5)

    record = socks5_server.assert_connected(host="www.example.com")
    assert record.reply == Reply.CONNECTION_NOT_ALLOWED
    assert record.denied_by == "hermetic default: not loopback and not in host_map"
    assert record.upstream_address is None  # no DNS lookup, no connection attempt
    assert 'allow=["www.example.com"]' in record.error


@pytest.mark.socks5(rules=[Rule.deny(port=25), Rule.deny(command=Command.BIND)])
def test_deny_rules(socks5_server, website):
    proxies = {"http": socks5_server.url}

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get("http://127.0.0.1:25/", proxies=proxies, timeout=5)
    requests.get(website.url, proxies=proxies, timeout=5)  # not port 25: allowed

    socks5_server.assert_connected(port=25, denied_by="Rule.deny(port=25)")
    socks5_server.assert_connected(port=website.port, reply=Reply.SUCCEEDED)
