"""What a user gives the pytest plugin's fixtures, checked where the plugin first reads
it: the ``socks5`` marker and the values of the ``socks5_server_options`` and
``socks5_listen_address`` fixtures (the ini options and flags are read by
:mod:`._options`' parsers at the start).

Strategy: each check returns the value as the plugin uses it, or raises
:class:`TypeError`/:class:`ValueError` with one line that names the marker or the fixture
and keeps the option's own message (which names the option, shows the value and says what
is valid); the plugin adds whose server it was for and reports it as a one-line failure
of the test, never as a traceback or as its own error. No pytest here: the plugin stays
thin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._checks import fail_type, fail_value
from ._option_parsers import listen_host, listen_port
from ._options import Site, check_names, names, normalise, option

__all__ = [
    "PLUGIN_MARKER_OPTIONS",
    "MarkerOptions",
    "factory_mistake",
    "ini_type",
    "listen_address",
    "marker_options",
    "read_marker",
    "server_options",
]

#: The marker options the plugin reads itself: never ``SOCKS5Server`` arguments.
PLUGIN_MARKER_OPTIONS = ("leak_guard", "chaos", "pcap")


@dataclass(frozen=True)
class MarkerOptions:
    """A test's ``socks5`` markers, checked and merged (the closest wins)."""

    #: The ``SOCKS5Server``/``configure()`` options, as given.
    server: dict[str, Any]
    #: Whether they need a dedicated server (a listener of their own).
    dedicated: bool
    #: The plugin's own options that were given, normalised: ``leak_guard`` as ``None``
    #: (off) or the allowed patterns, ``chaos`` as a bool or a rate, ``pcap`` as a bool.
    plugin: dict[str, Any]

    def leak_guard(self, default: tuple[str, ...] | None) -> tuple[str, ...] | None:
        """The marker's ``leak_guard`` if it has one, else ``default`` (ini or flag)."""
        return self.plugin.get("leak_guard", default)  # None: given as False


def read_marker(markers: Sequence[tuple[tuple[Any, ...], Mapping[str, Any]]]) -> MarkerOptions:
    """The ``(args, kwargs)`` of a test's ``socks5`` markers, closest first, checked
    against the option table. A mistake is a :class:`ValueError` of one line: what is
    wrong, and what is valid."""
    known = ", ".join(names(Site.MARKER))
    for args, _ in markers:
        if args:
            raise ValueError(
                f"@pytest.mark.socks5 takes keyword arguments only, got {args!r}; known: {known}"
            )
    try:
        # Farthest first, so that a function's marker beats its class's or module's.
        options, dedicated = marker_options(kwargs for _, kwargs in reversed(markers))
        normalised = normalise(options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"@pytest.mark.socks5: {exc}") from None
    plugin = {name: normalised[name] for name in PLUGIN_MARKER_OPTIONS if name in options}
    server = {name: v for name, v in options.items() if name not in PLUGIN_MARKER_OPTIONS}
    return MarkerOptions(server=server, dedicated=dedicated, plugin=plugin)


_ADDRESS = "a (host, port) pair such as ('127.0.0.1', 0)"


def listen_address(value: Any) -> tuple[str, int]:
    """The ``socks5_listen_address`` fixture's value: ``(host, port)``, each checked as
    ``host=`` and ``port=`` are."""
    name = "socks5_listen_address"
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise fail_type(name, _ADDRESS, value)
    if len(value) != 2:
        raise fail_value(name, _ADDRESS, value)
    host, port = value
    try:
        return listen_host("host", host), listen_port("port", port)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: {exc}") from None


def factory_mistake(kwargs: Mapping[str, Any]) -> TypeError | ValueError | None:
    """What is wrong with ``socks5_server_factory(**kwargs)``, named for the factory (an
    unknown name: a :class:`TypeError`, as Python's unexpected keyword), or ``None``; the
    plugin raises it in the test, so the traceback ends at the test's own call."""
    try:
        check_names(kwargs, Site.CONSTRUCTOR, context="unknown option(s)")
        normalise(kwargs)
    except (TypeError, ValueError) as exc:
        return type(exc)(f"socks5_server_factory(): {exc}")
    return None


def ini_type(kind: str, version: tuple[Any, ...]) -> Any:
    """``addini``'s type for pytest ``version``. A boolean is read as text and checked by
    its option's own parser, whose message names the option; pytest 9.2 takes a TOML
    boolean too (``bool | str``), 9.0 and 9.1 only pytest's own boolean (a TOML file's
    would not be text)."""
    if kind == "bool" and version >= (9, 2):
        return bool | str
    if kind == "bool" and version >= (9,):
        return "bool"
    return None if kind in ("string", "bool") else kind


#: The listen address, which ``socks5_server_options`` does not take, and where it is given.
_LISTEN = ("host", "port")
_LISTEN_ELSEWHERE = (
    "the listen address comes from the socks5_listen_address fixture (override it in "
    "conftest.py), or --socks5-host / ini socks5_host"
)


def server_options(value: Any) -> dict[str, Any]:
    """The ``socks5_server_options`` fixture's value: ``SOCKS5Server`` keyword arguments,
    each checked. ``host`` and ``port`` are refused: the listen address comes from
    ``socks5_listen_address`` (and a dedicated server's marker), never from here."""
    name = "socks5_server_options"
    if not isinstance(value, Mapping):
        raise fail_type(name, "a dict of SOCKS5Server keyword arguments", value)
    listen = [f"{key}={value[key]!r}" for key in _LISTEN if key in value]
    if listen:
        raise ValueError(
            f"{name} cannot set the listen address, got {', '.join(listen)}: {_LISTEN_ELSEWHERE}"
        )
    try:
        check_names(value, Site.CONSTRUCTOR, context="unknown option(s)", leave_out=_LISTEN)
        normalise(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: {exc}") from None
    return dict(value)


def marker_options(markers: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], bool]:
    """The keyword arguments of ``socks5`` markers, farthest first (so the closest wins),
    checked; and whether they need a dedicated server (a listener of their own)."""
    options: dict[str, Any] = {}
    for kwargs in markers:
        options.update(kwargs)
    check_names(options, Site.MARKER, context="unknown option(s)")
    return options, any(option(name).own_listener for name in options)
