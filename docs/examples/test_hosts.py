"""How-to: production host names, local servers and virtual destinations."""

import socket

import pytest
import requests
import socks

from pytest_socks5 import ECHO, Sink


def test_a_production_name_reaches_a_local_server(socks5_server, httpserver):
    httpserver.expect_request("/v1/users/42").respond_with_json({"id": 42, "name": "Ada"})
    socks5_server.configure(host_map={"api.example.test": f"{httpserver.host}:{httpserver.port}"})
    proxies = {"http": socks5_server.url_remote_dns}

    response = requests.get("http://api.example.test/v1/users/42", proxies=proxies, timeout=5)

    assert response.json() == {"id": 42, "name": "Ada"}
    record = socks5_server.assert_connected(host="api.example.test", port=80)
    assert record.mapped_to == f"{httpserver.host}:{httpserver.port}"


def test_one_port_of_a_name(socks5_server, website):
    socks5_server.configure(host_map={"admin.example.test:8443": f"127.0.0.1:{website.port}"})
    proxies = {"http": socks5_server.url_remote_dns}

    response = requests.get("http://admin.example.test:8443/", proxies=proxies, timeout=5)
    assert response.text == "hello from /"

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get("http://admin.example.test/", proxies=proxies, timeout=5)  # port 80


@pytest.mark.socks5(host_map={"echo.example.test": ECHO})
def test_an_echo_without_a_server(socks5_server):
    sock = socks.socksocket()
    sock.set_proxy(socks.SOCKS5, socks5_server.host, socks5_server.port, rdns=True)
    sock.settimeout(5)
    sock.connect(("echo.example.test", 7))
    with sock:
        sock.sendall(b"is anyone there?")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1024) == b"is anyone there?"

    socks5_server.assert_connected(host="echo.example.test", mapped_to="ECHO")


HEALTHY = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.socks5(host_map={"status.example.test": Sink(response=HEALTHY)})
def test_a_fixed_response(socks5_server):
    proxies = {"http": socks5_server.url_remote_dns}

    response = requests.get("http://status.example.test/health", proxies=proxies, timeout=5)

    assert response.text == "ok"
