"""Acknowledge-and-run tokens for `confirm` rules.

The server blocks a `confirm` cell the first time and hands out a token; the frontend may
re-send the same cell once with it. A token is an HMAC under a secret that never leaves the
server process, bound to the user, the exact code and the rules that matched, valid for a
few minutes and for one use, so it cannot be made up in the browser console or replayed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence

TOKEN_LIFETIME = 600.0
_MAX_REMEMBERED = 10_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Acknowledgements:
    def __init__(self, secret: bytes | None = None, lifetime: float = TOKEN_LIFETIME):
        self._secret = secret or secrets.token_bytes(32)
        self.lifetime = lifetime
        self._used: OrderedDict[str, float] = OrderedDict()

    def _sign(self, nonce: str, expires: int, user: str | None, code_sha256: str, rules: Sequence[str]) -> str:
        message = "\n".join((nonce, str(expires), user or "", code_sha256, ",".join(sorted(rules))))
        return _b64(hmac.new(self._secret, message.encode(), hashlib.sha256).digest())

    def issue(self, user: str | None, code_sha256: str, rules: Sequence[str]) -> tuple[str, float]:
        nonce = _b64(secrets.token_bytes(12))
        expires = int(time.time() + self.lifetime)
        return f"{nonce}.{expires}.{self._sign(nonce, expires, user, code_sha256, rules)}", float(expires)

    def redeem(self, token: object, user: str | None, code_sha256: str, rules: Sequence[str]) -> str | None:
        """None when the token is good (and now spent); otherwise why it was refused."""
        if not isinstance(token, str) or token.count(".") != 2:
            return "malformed token"
        nonce, expires_text, signature = token.split(".")
        try:
            expires = int(expires_text)
        except ValueError:
            return "malformed token"
        expected = self._sign(nonce, expires, user, code_sha256, rules)
        if not hmac.compare_digest(expected, signature):
            return "token does not match this user, code and rules"
        if expires < time.time():
            return "token expired"
        if nonce in self._used:
            return "token already used"
        self._used[nonce] = expires
        while len(self._used) > _MAX_REMEMBERED:
            self._used.popitem(last=False)
        return None
