"""Throttles of `POST /api/auth/token/`: wrong passwords per user name and per client address.

They count failed logins, not requests, so a script that logs in with the right password as often
as it likes is never slowed: `allow_request` only looks at the count, and the view calls
`record_failure` after a wrong password. The counts live in the default cache, which every web
process shares (CACHES in labelserver/settings.py); the limit and the window are the login forms'
too (annotations/login_limits.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from annotations import login_limits


class LoginFailureThrottle(SimpleRateThrottle):
    scope = "login"

    def __init__(self) -> None:
        # Read on each request rather than parsed from a rate string once: one setting for both doors.
        self.num_requests = login_limits.failure_limit()
        self.duration = login_limits.window_seconds()

    def ident(self, request: Request) -> str | None:
        """Whose failures are counted; None counts nothing."""
        raise NotImplementedError

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        ident = self.ident(request)
        return None if ident is None else f"login-failures:{self.scope}:{ident}"

    def allow_request(self, request: Request, view: Any) -> bool:
        """Whether fewer than the limit of failures are in the window. Counts nothing itself."""
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        return len(self.history) < self.num_requests

    def wait(self) -> float:
        """Until the oldest counted failure leaves the window: then one more try is allowed."""
        return max(1.0, self.duration - (self.now - self.history[-1]))

    def record_failure(self, request: Request, view: Any) -> float | None:
        """Count a wrong password; the seconds to wait when that reached the limit, else None."""
        self.allow_request(request, view)
        if self.key is None:
            return None
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)
        return self.wait() if len(self.history) >= self.num_requests else None


class LoginUsernameThrottle(LoginFailureThrottle):
    """Failures for one user name, from any address (guessing one account's password)."""

    scope = "login-username"

    def ident(self, request: Request) -> str | None:
        data = request.data
        username = data.get("username") if isinstance(data, Mapping) else None
        if not isinstance(username, str):
            return None  # the input serializer refuses the request before any password is checked
        # Hashed: any text may be a user name, and cache keys must be short and plain.
        return hashlib.sha256(username.encode()).hexdigest()


class LoginAddressThrottle(LoginFailureThrottle):
    """Failures from one client address, whatever the user names (spraying many accounts)."""

    scope = "login-address"

    def ident(self, request: Request) -> str | None:
        return login_limits.client_address(request) or None
