import pytest


@pytest.fixture(scope="session")
def socks5_server_options():
    """Every test in this suite gets a proxy that requires a password."""
    return {"users": {"ci": "ci-password"}, "connect_timeout": 2.0}
