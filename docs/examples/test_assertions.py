"""How-to: assertions about where traffic went."""

import threading

import httpx
import pytest
import requests

from pytest_socks5 import AddressType, NoMatchingConnection, Outcome


def test_criteria_exact_glob_and_predicate(socks5_server, website):
    # Send two made-up names to the local website; the proxy, not DNS, resolves them.
    socks5_server.configure(
        host_map={
            "api.example.test": f"127.0.0.1:{website.port}",
            "cdn.example.test": f"127.0.0.1:{website.port}",
        }
    )
    proxies = {"http": socks5_server.url_remote_dns}
    requests.get("http://api.example.test/v1/items", proxies=proxies, timeout=5)
    requests.get("http://cdn.example.test/logo.png", proxies=proxies, timeout=5)

    socks5_server.assert_connected(host="api.example.test", port=80)
    socks5_server.assert_connected(host="*.example.test", count=2)
    socks5_server.assert_connected(upstream_address=("127.0.0.1", website.port), count=2)
    socks5_server.assert_connected(bytes_to_client=lambda n: n > 0)
    socks5_server.assert_not_connected(host="tracker.example.test")


def test_the_failure_message(socks5_server, website):
    requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)

    with pytest.raises(NoMatchingConnection) as failure:
        socks5_server.assert_connected(host="api.example.test", port=443)

    message = str(failure.value)
    assert message.startswith("expected a connection matching host='api.example.test', port=443")
    assert "1 connection(s) were recorded, closest first:" in message
    assert (
        f"differs: host='127.0.0.1' (wanted 'api.example.test'); port={website.port} (wanted 443)"
        in message
    )


def test_find_connections(socks5_server, website):
    proxies = {"http": socks5_server.url}
    for path in ("a", "b", "c"):
        requests.get(website.url + path, proxies=proxies, timeout=5)

    records = socks5_server.find_connections(port=website.port, succeeded=True)

    assert len(records) == 3
    assert [r.id for r in records] == sorted(r.id for r in records)  # accept order


def test_a_forgotten_proxy_is_caught(socks5_server, website):
    requests.get(website.url, timeout=5)  # no proxies=...: the proxy is bypassed

    socks5_server.assert_no_connections()
    with pytest.raises(NoMatchingConnection, match="No connections were recorded"):
        socks5_server.assert_connected(port=website.port)


def test_wait_for_a_connection_made_elsewhere(socks5_server, website):
    def background_job():
        requests.get(website.url + "job", proxies={"http": socks5_server.url}, timeout=5)

    worker = threading.Thread(target=background_job)
    worker.start()
    try:
        (record,) = socks5_server.wait_for_connections(1, ended=True, timeout=5, port=website.port)
    finally:
        worker.join(5)

    assert record.outcome is Outcome.CLOSED
    assert record.duration is not None


def test_socks5_resolves_names_in_the_client(socks5_server, website):
    proxies = {"http": socks5_server.url}  # socks5://

    requests.get(f"http://localhost:{website.port}/", proxies=proxies, timeout=5)

    socks5_server.assert_local_dns("localhost", port=website.port)


def test_socks5h_sends_the_name_to_the_proxy(socks5_server, website):
    proxies = {"http": socks5_server.url_remote_dns}  # socks5h://

    requests.get(f"http://localhost:{website.port}/", proxies=proxies, timeout=5)

    socks5_server.assert_remote_dns("localhost", port=website.port)


def test_httpx_sends_the_name_even_with_socks5(socks5_server, website):
    with httpx.Client(proxy=socks5_server.url) as client:  # socks5://, not socks5h://
        client.get(f"http://localhost:{website.port}/")

    socks5_server.assert_remote_dns("localhost", port=website.port)


def test_what_the_record_says_about_dns(socks5_server, website):
    proxies = {"http": socks5_server.url_remote_dns}

    requests.get(f"http://localhost:{website.port}/", proxies=proxies, timeout=5)

    record = socks5_server.assert_connected(port=website.port)
    assert record.remote_dns is True
    assert record.address_type == AddressType.DOMAIN
    assert record.raw_address == b"localhost"


def test_a_dns_assertion_that_fails(socks5_server, website):
    proxies = {"http": socks5_server.url}  # socks5://: requests resolves the name

    requests.get(f"http://localhost:{website.port}/", proxies=proxies, timeout=5)

    with pytest.raises(NoMatchingConnection) as failure:
        socks5_server.assert_remote_dns("localhost")
    assert "the client sent the address 0x01 (IPV4) 127.0.0.1, not a name" in str(failure.value)


def test_internationalized_names_go_out_as_xn(socks5_server, website):
    socks5_server.configure(host_map={"xn--bcher-kva.example.test": f"127.0.0.1:{website.port}"})
    proxies = {"http": socks5_server.url_remote_dns}

    requests.get("http://bücher.example.test/", proxies=proxies, timeout=5)

    socks5_server.assert_connected(raw_address=b"xn--bcher-kva.example.test")


def test_an_unresolvable_name(socks5_server):
    socks5_server.configure(host_map={"gone.example.test": None})
    proxies = {"http": socks5_server.url_remote_dns}

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get("http://gone.example.test/", proxies=proxies, timeout=5)

    socks5_server.wait_for_connections(outcome=Outcome.REJECTED)
    record = socks5_server.assert_connected(host="gone.example.test")
    assert record.reply == 0x04  # Reply.HOST_UNREACHABLE


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_which_credentials_were_used(socks5_server, website):
    requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)

    socks5_server.assert_auth("alice", "s3cret")


def test_no_credentials_were_sent(socks5_server, website):
    requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)

    socks5_server.assert_no_auth()


@pytest.mark.socks5(capture_payload=4096)
def test_the_bytes_that_went_through(socks5_server, website):
    requests.get(website.url + "items?page=2", proxies={"http": socks5_server.url}, timeout=5)

    socks5_server.assert_sent(b"GET /items?page=2 HTTP/1.1\r\n")
    socks5_server.assert_received(b"hello from /items?page=2")


def test_the_exact_handshake_bytes(socks5_server, website):
    requests.get(website.url, proxies={"http": socks5_server.url}, timeout=5)

    record = socks5_server.assert_connected(port=website.port)
    assert record.message("greeting") == b"\x05\x01\x00"  # no credentials: only 0x00
    assert record.message("request")[:4] == b"\x05\x01\x00\x01"  # CONNECT, IPv4
    assert [m.name for m in record.handshake] == [
        "greeting",
        "method selection",
        "request",
        "reply",
    ]


def test_a_client_configured_by_the_environment(socks5_proxy_env, website):
    # ALL_PROXY, HTTP_PROXY and HTTPS_PROXY (and their lower-case forms) point at the
    # proxy for this test only, and NO_PROXY is unset.
    requests.get(f"http://localhost:{website.port}/", timeout=5)

    socks5_proxy_env.assert_local_dns("localhost", port=website.port)


def test_the_environment_for_a_block(socks5_server, website):
    with socks5_server.proxy_env(remote_dns=True), httpx.Client() as client:  # socks5h://
        client.get(f"http://localhost:{website.port}/")

    socks5_server.assert_remote_dns("localhost")
