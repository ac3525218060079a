"""Who may use a shared server: logins for the chat (Gradio's login page) and for the HTTP API
(a bearer token, or the same user and password by HTTP Basic).

An auth file holds one ``USER:PASSWORD`` per line, and ``token=TOKEN`` for the API's bearer
token; blank lines and lines starting with ``#`` are ignored. Given by file, no secret
appears in the process list; none is ever logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

from corpus.errors import CorpusError


class AuthError(CorpusError):
    """A malformed ``--auth`` value or auth file."""


@dataclass(frozen=True)
class Access:
    """The logins a server accepts: chat users, and the API's bearer token."""

    users: tuple[tuple[str, str], ...] = ()
    token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # never a secret in a log or a traceback
        return f"Access(users={[u for u, _ in self.users]}, token={'set' if self.token else None})"

    @property
    def required(self) -> bool:
        return bool(self.users or self.token)

    def login(self, user: str, password: str) -> bool:
        """Whether a user and password are one of the logins (compared in constant time)."""
        ok = False
        for known, secret in self.users:
            ok |= hmac.compare_digest(known.encode(), user.encode()) & hmac.compare_digest(secret.encode(), password.encode())
        return ok

    def allows(self, authorization: str | None) -> bool:
        """Whether an HTTP ``Authorization`` header grants the API: ``Bearer TOKEN``, or
        ``Basic`` with a chat user's login."""
        if not self.required:
            return True
        scheme, _, value = (authorization or "").partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and self.token:
            return hmac.compare_digest(value.encode(), self.token.encode())
        if scheme.lower() == "basic" and self.users:
            try:
                user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return self.login(user, password)
        return False


def parse_login(value: str) -> tuple[str, str]:
    user, sep, password = value.partition(":")
    if not sep or not user.strip() or not password:
        raise AuthError("a login is USER:PASSWORD, with a user name and a password")  # the value itself is never echoed
    return user.strip(), password


def read_auth_file(path: str | os.PathLike[str]) -> Access:
    """The logins of an auth file (see the module's notes)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthError(f"cannot read the auth file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    users: list[tuple[str, str]] = []
    token = None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("token="):
            token = line[len("token=") :].strip()
            if not token:
                raise AuthError(f"{path}:{number}: the token is empty")
            continue
        try:
            users.append(parse_login(line))
        except AuthError:
            raise AuthError(f"{path}:{number}: not USER:PASSWORD or token=TOKEN") from None
    if not users and not token:
        raise AuthError(f"the auth file {path} holds no login and no token")
    return Access(tuple(users), token)


def access(logins: list[str] | None, auth_file: str | os.PathLike[str] | None, api_token: str | None) -> Access:
    """The logins given on the command line and in a file, together."""
    found = read_auth_file(auth_file) if auth_file else Access()
    users = list(found.users) + [parse_login(value) for value in logins or []]
    if api_token is not None and not api_token.strip():
        raise AuthError("the API token is empty")
    return Access(tuple(users), (api_token or "").strip() or found.token)
