"""How-to: the proxy outside pytest, with ``python -m pytest_socks5``."""

import signal
import subprocess
import sys

import requests


def test_the_command_line_proxy(website):
    command = [sys.executable, "-m", "pytest_socks5", "--port", "0", "--user", "alice:s3cret"]
    command.append("--show-credentials")  # print a URL with the password, ready to use
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8"
    ) as proxy:
        try:
            banner = proxy.stdout.readline()
            # "pytest-socks5 listening on socks5://alice:s3cret@127.0.0.1:<port>"
            url = banner.split()[-1]
            text = requests.get(website.url, proxies={"http": url}, timeout=5).text
            log_line = proxy.stdout.readline()
        finally:
            proxy.send_signal(signal.SIGINT)
        assert proxy.wait(timeout=10) == 0

    assert url.startswith("socks5://alice:s3cret@127.0.0.1:")
    assert text == "hello from /"
    assert f"SOCKS5 user='alice' CONNECT 127.0.0.1:{website.port}" in log_line
