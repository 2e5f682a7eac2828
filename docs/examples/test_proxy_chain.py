"""How-to: a proxy chain, client → proxy A → proxy B → destination."""

from python_socks.sync import Proxy

REQUEST = b"GET /chained HTTP/1.0\r\n\r\n"  # the website closes after answering


def read_all(sock):
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_chain_of_two_proxies(socks5_server_factory, website):
    proxy_a = socks5_server_factory()
    proxy_b = socks5_server_factory(users={"alice": "s3cret"})

    # python-socks dials B through A (``forward``), then asks B for the destination.
    first_hop = Proxy.from_url(proxy_a.url)
    chain = Proxy.from_url(proxy_b.url, forward=first_hop)  # the URL carries alice:s3cret
    with chain.connect("127.0.0.1", website.port, timeout=5) as sock:
        sock.sendall(REQUEST)
        assert read_all(sock).endswith(b"hello from /chained")

    # A carried a tunnel to B; B carried one to the website.
    (to_b,) = proxy_a.connections
    (to_website,) = proxy_b.connections
    proxy_a.assert_connected(host="127.0.0.1", port=proxy_b.port, username=None)
    proxy_b.assert_connected(host="127.0.0.1", port=website.port, username="alice")
    # B's client is A's end of that tunnel: the two records describe one connection.
    assert to_website.client_address == to_b.bound_address
    # A relayed B's handshake as well as the request.
    assert to_b.bytes_from_client > to_website.bytes_from_client == len(REQUEST)
