"""The packages' lazy exports (PEP 562): every name of ``__all__`` is imported on first use
from the module that defines it, typed for checkers (a ``TYPE_CHECKING`` import), and
named where users import it from. Read from the source with :mod:`ast`, so a name added
to one list and not the others fails here, not as an ``Any`` in a user's type checker."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import pytest_socks5
from pytest_socks5 import _protocol

PACKAGES = {"pytest_socks5": pytest_socks5, "pytest_socks5._protocol": _protocol}


def declared(package: str) -> tuple[set[str], set[str], set[str]]:
    """The names a package's ``__init__`` imports under ``TYPE_CHECKING``, maps in its
    ``lazy_exports`` call, and lists in ``__all__``."""
    tree = ast.parse(Path(PACKAGES[package].__file__ or "").read_text())
    typed, mapped, listed = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                typed |= {alias.name for alias in imp.names}
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "lazy_exports":
            homes = node.args[1]
            assert isinstance(homes, ast.Dict)
            for names in homes.values:
                assert isinstance(names, ast.Tuple)
                mapped |= {ast.literal_eval(n) for n in names.elts}
        elif isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__":
            listed = set(ast.literal_eval(node.value))
    return typed, mapped, listed - {"__version__"}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_the_three_lists_of_a_package_agree(package: str) -> None:
    typed, mapped, listed = declared(package)
    assert typed == mapped == listed


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_exported_name_is_its_modules_own(package: str) -> None:
    module = PACKAGES[package]
    for name in declared(package)[2]:
        value = getattr(module, name)
        assert value is not None
        assert name in vars(module)  # kept: the next look-up is a plain attribute


def test_dir_lists_the_exports_not_the_packages_own_imports() -> None:
    names = dir(pytest_socks5)
    assert set(pytest_socks5.__all__) <= set(names)
    assert {"TYPE_CHECKING", "Any", "lazy_exports", "_exported"}.isdisjoint(names)
    importlib.import_module("pytest_socks5.testing")  # a public submodule, once imported
    assert "testing" in dir(pytest_socks5)


def test_a_misspelt_name_is_an_attribute_error_that_suggests_the_name() -> None:
    with pytest.raises(AttributeError, match="no attribute 'SOCKS5Sever'"):
        pytest_socks5.SOCKS5Sever  # noqa: B018
    result = subprocess.run(
        [sys.executable, "-c", "import pytest_socks5; pytest_socks5.SOCKS5Sever"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Did you mean: 'SOCKS5Server'?" in result.stderr


EXPORTED_CLASSES = sorted(
    name
    for name in pytest_socks5.__all__
    if name != "__version__" and isinstance(getattr(pytest_socks5, name), type)
)


@pytest.mark.parametrize("name", EXPORTED_CLASSES)
def test_the_type_hints_of_an_exported_class_resolve_in_a_fresh_process(name: str) -> None:
    """pydantic, cattrs and typeguard read them through ``typing.get_type_hints``, which
    looks names up in the class's ``__module__``: the package, whatever was imported,
    including the names it does not export (``Literal``, ``Direction``, ``Action``)."""
    code = (
        f"import typing, pytest_socks5\nprint(len(typing.get_type_hints(pytest_socks5.{name})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    cls = getattr(pytest_socks5, name)
    assert int(result.stdout) == len(typing.get_type_hints(cls))


def test_a_public_class_is_named_after_the_package_before_the_package_exports_it() -> None:
    code = (
        "from pytest_socks5._records import ConnectionRecord\nprint(ConnectionRecord.__module__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "pytest_socks5"
    assert importlib.import_module("pytest_socks5._records").ConnectionRecord is (
        pytest_socks5.ConnectionRecord
    )
