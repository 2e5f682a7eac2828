"""The option table drives every entry point: the constructor and ``configure()``, the
marker, the ini options and pytest flags, ``python -m pytest_socks5`` and the docs."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import re
import sys
import tomllib
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

import pytest_socks5
from pytest_socks5 import SOCKS5Server, rawclient
from pytest_socks5._auth import AuthPolicy
from pytest_socks5._config import EngineConfig
from pytest_socks5._option_types import RuntimeOptions, ServerOptions
from pytest_socks5._options import (
    OPTIONS,
    Site,
    check_names,
    config_values,
    defaults,
    names,
    normalise,
)
from pytest_socks5._plugin_inputs import marker_options

from .helpers import closed_port

ROOT = Path(__file__).parent.parent
INI = "[pytest]\n" + (
    "asyncio_default_fixture_loop_scope = function\n" if find_spec("pytest_asyncio") else ""
)


# -- the declarations themselves ------------------------------------------------------------


def test_each_option_is_declared_once_with_a_one_line_doc() -> None:
    declared = [o.name for o in OPTIONS]
    assert len(declared) == len(set(declared))
    for option in OPTIONS:
        assert option.doc, option.name
        assert "\n" not in option.doc, option.name
        assert option.sites, f"{option.name} is given nowhere"


def test_every_default_passes_its_own_check() -> None:
    normalise({o.name: o.default for o in OPTIONS})


def test_the_engine_config_defaults_are_the_tables() -> None:
    """``EngineConfig`` keeps defaults for the I/O layer's tests; they must be the table's."""
    from_table = EngineConfig(**config_values(normalise(defaults(Site.CONFIGURE))))
    assert from_table == EngineConfig(splice=from_table.splice)
    per_connection = {o.name for o in OPTIONS if o.per_connection} - {"users", "validator"}
    fields = {f.name for f in dataclasses.fields(EngineConfig)}
    assert fields == per_connection | {"auth"}


def test_unknown_names_list_the_valid_ones_and_suggest_the_nearest() -> None:
    with pytest.raises(TypeError) as caught:
        check_names(["hermetik", "zzz"], Site.CONFIGURE, context="unknown option(s) here")
    message = str(caught.value)
    assert message.startswith("unknown option(s) here: hermetik (did you mean hermetic?), zzz;")
    assert message.endswith("; known: " + ", ".join(names(Site.CONFIGURE)))
    assert type(caught.value) is TypeError  # public, as Python's unexpected keyword


def test_a_name_that_is_not_text_is_refused_listing_the_valid_ones() -> None:
    """A dict's key may be anything (``socks5_server_options`` returning ``{1: 2,
    "conect_timeout": 1}``): it is named, not sorted with the text ones (``'<' not
    supported between instances of 'str' and 'int'``)."""
    with pytest.raises(TypeError) as caught:
        check_names({1: 2, "conect_timeout": 1}, Site.CONSTRUCTOR, context="unknown option(s)")
    known = ", ".join(names(Site.CONSTRUCTOR))
    assert str(caught.value) == f"option names must be text, got 1 (int); known: {known}"


# -- the constructor and configure() -------------------------------------------------------


def test_the_constructors_types_and_docs_cover_exactly_the_table() -> None:
    constructor = set(names(Site.CONSTRUCTOR))
    signature = inspect.signature(SOCKS5Server)
    named = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    assert {p.name for p in named} | set(ServerOptions.__optional_keys__) == constructor
    for parameter in named:
        assert parameter.default == defaults(Site.CONSTRUCTOR)[parameter.name]
    documented = set(re.findall(r":param (\w+):", SOCKS5Server.__doc__ or ""))
    assert documented == constructor


def test_a_default_the_constructors_docstring_names_is_the_tables() -> None:
    """The audit's case: ``:param loop:`` said ``"asyncio"`` was the default (it is
    ``"auto"``). Where a parameter's text names its default, it names the table's."""
    doc = inspect.cleandoc(SOCKS5Server.__doc__ or "")  # 3.13 dedents docstrings itself
    params = dict(re.findall(r":param (\w+):(.*?)(?=\n:param |\n\n)", doc, re.S))
    named = {n: t for n, t in params.items() if re.search(r"\((the )?default|the default\b", t)}
    assert {"host", "loop", "backlog", "socks4_user_id_reply"} <= set(named)
    for name, text in named.items():
        one = OPTIONS[[o.name for o in OPTIONS].index(name)]
        shown = one.default_doc or (repr(one.default) if isinstance(one.default, str) else "")
        assert (shown or str(one.default)) in text.replace("``", "").replace('"', "'"), name


def test_configure_takes_exactly_the_tables_runtime_options() -> None:
    assert set(RuntimeOptions.__optional_keys__) == set(names(Site.CONFIGURE))
    server = SOCKS5Server()
    server.configure(**{o: defaults(Site.CONFIGURE)[o] for o in names(Site.CONFIGURE)})
    assert server._engine.config == server._default_config


@pytest.mark.parametrize(
    ("call", "typo", "near"),
    [
        (lambda **kw: SOCKS5Server(**kw), "max_connection", "max_connections"),
        (lambda **kw: SOCKS5Server().configure(**kw), "udp_fault", "udp_faults"),
    ],
    ids=["constructor", "configure"],
)
def test_a_misspelt_option_is_refused_with_a_suggestion(call: Any, typo: str, near: str) -> None:
    with pytest.raises(TypeError, match=rf"unknown option.*{typo} \(did you mean {near}\?\)"):
        call(**{typo: 1})


def test_configure_refuses_what_only_the_constructor_takes() -> None:
    with pytest.raises(TypeError, match=r"^configure\(\): unknown option\(s\): seed"):
        SOCKS5Server().configure(seed=3)  # type: ignore[call-arg]


def _svc(user: str, password: str) -> bool:
    return user == "svc"


def _logs_in(server: SOCKS5Server, user: bytes, password: bytes) -> bool:
    """Whether the credentials pass (the request after them is refused: a closed port)."""
    with closed_port() as port, rawclient.connect(server.address) as sock:
        try:
            rawclient.handshake(sock, "127.0.0.1", port, auth=(user, password))
        except rawclient.UnexpectedAnswer:
            return False
    return True


def test_configure_changes_users_and_validator_each_on_its_own() -> None:
    """The audit's case: ``configure(validator=f)`` dropped the users and
    ``configure(users=…)`` the validator; ``configure(users=None)`` kept the users."""
    with SOCKS5Server(users={"alice": "pw"}) as server:
        server.configure(validator=_svc)
        assert server.users == {"alice": "pw"}
        assert server._engine.config.auth.validator is _svc
        assert _logs_in(server, b"alice", b"pw")
        assert _logs_in(server, b"svc", b"x")
        assert not _logs_in(server, b"mallory", b"x")
        server.configure(users={"bob": "b"})
        assert server.users == {"bob": "b"}
        assert server._engine.config.auth.validator is _svc
        server.configure(users=None)  # the default: no users, the validator stays
        assert server.users == {}
        assert server._engine.config.auth.validator is _svc
        assert _logs_in(server, b"svc", b"x")
        assert not _logs_in(server, b"bob", b"b")
        server.configure(connect_timeout=3)  # neither given: auth untouched
        assert server._engine.config.auth.validator is _svc
        server.configure(validator=None)  # neither: no authentication
        assert server._engine.config.auth == AuthPolicy()
        server.reset()
        assert server.users == {"alice": "pw"}
        assert server._engine.config.auth.validator is None


def test_a_validator_must_be_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        SOCKS5Server(validator="alice")  # type: ignore[arg-type]


# -- the marker ----------------------------------------------------------------------------


def test_the_marker_takes_every_marker_option_and_knows_which_need_their_own_server() -> None:
    every = defaults(Site.MARKER)
    options, dedicated = marker_options([every])
    assert options == every
    assert dedicated
    shared = {n: v for n, v in every.items() if n not in ("host", "port", "backlog")}
    assert marker_options([shared]) == (shared, False)
    assert marker_options([{"port": 0}, {"socks4": False}]) == ({"port": 0, "socks4": False}, True)


def test_an_unknown_marker_option_names_the_valid_ones_and_the_near_miss(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.socks5(user={"a": "1"}, hermetic=False)
        def test_typo(socks5_server):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    known = ", ".join(names(Site.MARKER))
    result.stdout.fnmatch_lines(
        [f"@pytest.mark.socks5: unknown option(s): user (did you mean users?); known: {known}"]
    )
    result.assert_outcomes(errors=1)


def test_the_marker_description_lists_the_tables_marker_options(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INI)
    result = pytester.runpytest("--markers")
    text = result.stdout.str().replace("\n", " ")
    described = re.search(r"socks5\(\*\*options\).*?options: (.*?) \(and (\S+) for", text)
    assert described is not None
    shared, own = described.group(1).split(", "), described.group(2).split("/")
    assert own == ["host", "port", "backlog"]
    assert sorted(shared + own) == sorted(names(Site.MARKER))


# -- ini options and pytest flags ------------------------------------------------------------


def test_every_ini_form_is_registered_with_its_default(pytestconfig: pytest.Config) -> None:
    with_ini = [o for o in OPTIONS if o.ini is not None]
    assert {o.name for o in with_ini} >= {"host", "users", "seed", "hermetic", "allow"}
    for option in with_ini:
        assert option.ini is not None
        assert pytestconfig.getini(option.ini_name) == option.ini.default, option.name


def test_every_flag_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    result = pytester.runpytest("--help")
    text = result.stdout.str()
    for option in OPTIONS:
        if option.flag is not None:
            assert f"  {option.flag.name}" in text, option.flag.name
        if option.ini is not None:
            assert f"  {option.ini_name} " in text, option.ini_name


def test_ini_and_flag_values_reach_the_fixture_servers(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "socks5_capture_payload = 7\nsocks5_hermetic = false\n")
    pytester.makepyfile(
        """
        def test_it(socks5_server, socks5_server_factory):
            for server in (socks5_server, socks5_server_factory()):
                config = server._engine.config
                assert (config.capture_payload, config.hermetic) == (9, False)
                assert server._engine.faults.seed == 4
        """
    )
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--socks5-capture-payload", "9", "--socks5-seed", "4"
    )
    result.assert_outcomes(passed=1)


def test_a_bad_ini_value_stops_the_run_saying_which(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "socks5_seed = many\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*socks5_seed must be a whole number, got 'many'*"])


# -- python -m pytest_socks5 ---------------------------------------------------------------


def test_the_command_line_server_has_a_flag_for_each_option_with_one() -> None:
    from pytest_socks5.__main__ import _parser, main

    parser = _parser()
    args = parser.parse_args([])
    for option in OPTIONS:
        if option.main is not None:
            assert getattr(args, option.name) == option.main_default, option.name
            assert option.main.name in parser.format_help()
    assert parser.parse_args(["--uvloop"]).loop == "uvloop"
    with pytest.raises(SystemExit):  # the option's own check, before anything listens
        main(["--handshake-timeout", "-1"])


# -- the docs --------------------------------------------------------------------------------


def test_the_reference_draws_its_options_table_from_the_declarations(tmp_path: Path) -> None:
    from sphinx.cmd.build import build_main

    reference = (ROOT / "docs" / "reference.rst").read_text(encoding="utf-8")
    assert ".. socks5-options-table::" in reference
    source = tmp_path / "src"
    source.mkdir()
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'docs' / '_ext')!r})\n"
        "extensions = ['options_table']\n"
    )
    (source / "index.rst").write_text("Options\n=======\n\n.. socks5-options-table::\n")
    assert build_main(["-q", "-b", "pseudoxml", str(source), str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "index.pseudoxml").read_text(encoding="utf-8")
    assert text.count("<row>") == len(OPTIONS) + 1  # and the header
    for option in OPTIONS:
        assert option.name in text, option.name
        assert option.doc.split()[0] in text, option.name
        if option.ini is not None:
            assert option.ini_name in text
        if option.flag is not None:
            assert option.flag.name in text


def test_every_ini_option_is_explained_in_the_reference() -> None:
    reference = (ROOT / "docs" / "reference.rst").read_text(encoding="utf-8")
    for option in OPTIONS:
        if option.ini is not None:
            assert f"``{option.ini_name}``" in reference, option.ini_name


# -- the version ------------------------------------------------------------------------------


def test_the_version_is_written_once_in_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert pytest_socks5.__version__ == project["version"]
    assert pytest_socks5.__version__ == importlib.metadata.version("pytest-socks5")
    source = (ROOT / "pytest_socks5" / "__init__.py").read_text(encoding="utf-8")
    assert project["version"] not in source
    assert sys.modules["pytest_socks5"] is pytest_socks5
