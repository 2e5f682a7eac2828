import pytest


def test_the_suite_default_applies(socks5_server):
    assert socks5_server.users == {"ci": "ci-password"}
    assert socks5_server.url.startswith("socks5://ci:ci-password@127.0.0.1:")


@pytest.mark.socks5(users={"alice": "s3cret"})
def test_a_marker_wins_for_one_test(socks5_server):
    assert socks5_server.users == {"alice": "s3cret"}


def test_the_next_test_has_the_default_again(socks5_server):
    assert socks5_server.users == {"ci": "ci-password"}
