"""The names of ``--socks5-record-dir`` files: one per node id, stable, readable."""

from __future__ import annotations

import re

from pytest_socks5._record_files import record_file_name

NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*-[0-9a-f]{10}\.jsonl$")


def test_ids_that_sanitize_alike_get_names_of_their_own() -> None:
    ids = ["t.py::p[/a/b]", "t.py::p[/a_b]", "t.py::p[/a:b]", "t.py::p__a_b", "t.py::P[/a/b]"]
    names = [record_file_name(nodeid) for nodeid in ids]
    assert len(set(names)) == len(ids)
    # distinct on a case-insensitive file system too
    assert len({name.lower() for name in names}) == len(ids)
    assert all(name.startswith("t.py__p__a_b-") for name in names[:4])


def test_a_name_is_readable_portable_and_the_same_every_time() -> None:
    name = record_file_name("tests/test_a.py::test_b[x]")
    assert name == record_file_name("tests/test_a.py::test_b[x]")
    assert re.fullmatch(r"tests_test_a\.py__test_b_x-[0-9a-f]{10}\.jsonl", name)
    for nodeid in ("...", "", "t.py::t[é ☃]", "t.py::t[\udcff]", "x" * 1000, "a/../../b"):
        name = record_file_name(nodeid)
        assert NAME.fullmatch(name), name
        assert len(name) <= 140


def test_the_hash_is_of_the_exact_node_id() -> None:
    # a long id is cut short in the readable part; the hash still tells the ids apart
    long = "t.py::t[" + "x" * 200
    assert record_file_name(long + "1]") != record_file_name(long + "2]")
