"""How-to: the proxy outside pytest, with ``python -m pytest_socks5``."""

import signal
import subprocess
import sys

import pytest
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


def test_faults_from_the_command_line(website):
    # the first connection is refused, as by a destination that is not up yet
    command = [sys.executable, "-m", "pytest_socks5", "--port", "0"]
    command += ["--fault", "replywith:connection_refused,times=1"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8"
    ) as proxy:
        try:
            url = proxy.stdout.readline().split()[-1]
            with pytest.raises(requests.exceptions.ConnectionError, match="0x05"):
                requests.get(website.url, proxies={"http": url}, timeout=5)
            refused = proxy.stdout.readline()
            text = requests.get(website.url, proxies={"http": url}, timeout=5).text
        finally:
            proxy.send_signal(signal.SIGTERM)
        assert proxy.wait(timeout=10) == 0
        # stderr: the event loop it ran on, then how it stopped
        assert proxy.stderr.read().splitlines()[-1] == "pytest-socks5 stopped (SIGTERM)"

    assert "→ REP 0x05 (CONNECTION_REFUSED)" in refused
    assert "faults: ReplyWith(reply=0x05, times=1) at request" in refused
    assert text == "hello from /"
