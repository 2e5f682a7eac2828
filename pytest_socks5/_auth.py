"""Authentication policy: which METHOD to choose and whether RFC 1929 credentials pass.

Pure policy, no I/O. Credentials are compared as bytes, in constant time
(:func:`hmac.compare_digest`), because RFC 1929 carries bytes, not text: a configured
``str`` is encoded as UTF-8, so non-ASCII usernames work the way clients send them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ._protocol import AuthMethod
from ._user_code import callable_name, users_error

__all__ = ["AuthPolicy", "Validator"]

#: A callable that decides on a username and password (decoded as UTF-8 with
#: ``surrogateescape``, so undecodable bytes survive) and returns ``True`` to accept.
Validator = Callable[[str, str], bool]


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


@dataclass(frozen=True, kw_only=True, slots=True)
class AuthPolicy:
    """What the server accepts.

    With neither ``users`` nor ``validator`` the server offers only "no authentication
    required"; with either it requires RFC 1929 username/password.
    """

    users: tuple[tuple[bytes, bytes], ...] = ()
    validator: Validator | None = None

    def __repr__(self) -> str:
        # Shown in tracebacks (a config in a local variable): names only, never passwords.
        names = ", ".join(repr(name) for name, _ in self.users)
        return f"AuthPolicy(users=[{names}] (passwords hidden), validator={self.validator!r})"

    @classmethod
    def build(
        cls,
        users: Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[str, str]] | None = None,
        validator: Validator | None = None,
    ) -> AuthPolicy:
        """Normalise ``users`` (a mapping or ``(name, password)`` pairs) into bytes."""
        if users is None:
            pairs: tuple[tuple[bytes, bytes], ...] = ()
        else:
            items = users.items() if isinstance(users, Mapping) else users
            pairs = tuple((_as_bytes(name), _as_bytes(pw)) for name, pw in items)
        seen: set[bytes] = set()
        for name, pw in pairs:
            if name in seen:  # the password of which? Never guess: name the user, not it.
                shown = name.decode("utf-8", "replace")
                raise ValueError(f"the user {shown!r} is given twice; give each user once")
            seen.add(name)
            if not name:
                raise ValueError("a user name must be 1 to 255 bytes (RFC 1929), got ''")
            # Names the user (cut short if it is the long part), never shows the password.
            user = name.decode("utf-8", "replace")
            if len(name) > 255:
                what, size = f"the username {user[:40]!r}...", len(name)
            elif len(pw) > 255:
                what, size = f"the password of {user!r}", len(pw)
            else:
                continue
            raise ValueError(
                f"{what} is {size} bytes; RFC 1929 usernames and passwords are at most 255 bytes"
            )
        return cls(users=pairs, validator=validator)

    @property
    def requires_password(self) -> bool:
        return bool(self.users) or self.validator is not None

    @property
    def method(self) -> AuthMethod:
        """The one method this policy accepts."""
        if self.requires_password:
            return AuthMethod.USERNAME_PASSWORD
        return AuthMethod.NO_AUTHENTICATION_REQUIRED

    def select_method(self, offered: Iterable[int]) -> AuthMethod:
        """RFC 1928 §3: the method to use, or X'FF' when the client offered none we accept."""
        if self.method in offered:
            return self.method
        return AuthMethod.NO_ACCEPTABLE_METHODS

    def check(self, username: bytes, password: bytes) -> bool:
        """Whether the credentials pass. Every configured user is compared, in constant time."""
        from hmac import compare_digest  # loaded with the first credentials (~3 ms)

        ok = False
        for name, pw in self.users:
            # Non-short-circuit "&" so that timing does not reveal which part matched.
            ok |= compare_digest(name, username) & compare_digest(pw, password)
        if not ok and self.validator is not None:
            try:
                ok = bool(
                    self.validator(
                        username.decode("utf-8", "surrogateescape"),
                        password.decode("utf-8", "surrogateescape"),
                    )
                )
            except BaseException as exc:
                raise users_error(exc, f"validator {callable_name(self.validator)}") from exc
        return ok

    def first_user(self) -> tuple[str, str] | None:
        """The first configured user, as text, for building a proxy URL."""
        if not self.users:
            return None
        name, pw = self.users[0]
        return name.decode("utf-8", "surrogateescape"), pw.decode("utf-8", "surrogateescape")
