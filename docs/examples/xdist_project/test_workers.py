import os

import pytest


@pytest.mark.parametrize("n", range(4))
def test_each_worker_has_its_own_proxy(socks5_server, n):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "master")
    print(f"{worker} uses {socks5_server.url}")
    socks5_server.assert_no_connections()  # reset for every test, on every worker
