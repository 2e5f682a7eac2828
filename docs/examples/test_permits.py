"""Reference: ``server.permits()``, a dry run of the rules and the host map."""

from pytest_socks5 import Rule, SOCKS5Server


def test_ask_the_rules_without_dialling():
    server = SOCKS5Server(
        host_map={"api.example.test": "127.0.0.1:8080"},
        rules=[Rule.deny(host="*.corp.test")],
        allow=["*.partner.test:443"],
    )

    api = server.permits("api.example.test", 443)
    assert api.allowed
    assert api.mapped_to == "127.0.0.1:8080"
    assert str(api) == (
        "CONNECT api.example.test:443 allowed by hermetic default: in host_map; "
        "host_map sends it to 127.0.0.1:8080"
    )

    corp = server.permits("db.corp.test", 5432)
    assert not corp
    assert corp.rule == Rule.deny(host="*.corp.test")

    assert server.permits("www.partner.test", 443)
    assert not server.permits("www.partner.test", 80, command="bind")
