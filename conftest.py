"""Lets the project's own suite run, and pass quietly, without pytest-asyncio.

The plugin never needs pytest-asyncio. A few of our tests, and the docs examples written
for its users, do. Without it installed (or with ``-p no:asyncio``), this conftest
registers the ``asyncio`` marker and pytest-asyncio's ini options, so that
``--strict-markers`` and ``--strict-config`` accept them, and skips the tests marked
``asyncio`` with the reason. tox's ``no-asyncio`` environment runs the suite that way.
"""

from __future__ import annotations

import pytest

#: pytest-asyncio's ini options that pyproject.toml sets.
ASYNCIO_INI = ("asyncio_mode", "asyncio_default_fixture_loop_scope")


def _has_pytest_asyncio(pluginmanager: pytest.PytestPluginManager) -> bool:
    return pluginmanager.has_plugin("asyncio")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if not _has_pytest_asyncio(pluginmanager):
        for name in ASYNCIO_INI:
            parser.addini(name, help="pytest-asyncio's option; pytest-asyncio is not installed")


def pytest_configure(config: pytest.Config) -> None:
    if not _has_pytest_asyncio(config.pluginmanager):
        config.addinivalue_line(
            "markers", "asyncio: a pytest-asyncio test (skipped: pytest-asyncio is not installed)"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _has_pytest_asyncio(config.pluginmanager):
        return
    skip = pytest.mark.skip(reason="needs pytest-asyncio, which is not installed")
    for item in items:
        if item.get_closest_marker("asyncio") is not None:
            item.add_marker(skip)
