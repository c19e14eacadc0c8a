"""Who sent a request, as the audit and exemptions should name them."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider

# jupyter_server's own providers: token and password logins, with made-up user names
_ANONYMOUS_PROVIDERS = (IdentityProvider, PasswordIdentityProvider)


def user_of(handler: Any) -> str | None:
    """The JupyterHub user behind a request, else the user an identity provider names.

    None under jupyter_server's own token or password login: it makes up a random name for
    each browser (`Anonymous Io`), which would give one student a new name per connection;
    the guard then uses the server's own identity instead.
    """
    user = getattr(handler, "current_user", None)
    hub_user = getattr(user, "hub_user", None)
    if isinstance(hub_user, dict) and hub_user.get("name"):
        return str(hub_user["name"])
    provider = getattr(handler, "identity_provider", None)
    if provider is None or type(provider) in _ANONYMOUS_PROVIDERS:
        return None
    name = getattr(user, "username", None) or getattr(user, "name", None)
    return str(name) if name else None


def groups_of(handler: Any) -> tuple[str, ...]:
    """The JupyterHub groups of the user behind a request (none outside JupyterHub)."""
    hub_user = getattr(getattr(handler, "current_user", None), "hub_user", None)
    if isinstance(hub_user, dict):
        return tuple(str(g) for g in hub_user.get("groups") or ())
    return ()
