"""How many wrong passwords a user name, or a client address, may send, and how long a lockout lasts.

One policy for both doors in: the API token endpoint counts with DRF throttles
(annotations/api/throttles.py), the login forms with django-axes, whose settings name the hooks
below (labelserver/settings.py). Both read LOGIN_FAILURE_LIMIT and LOGIN_LOCKOUT_SECONDS when
they count, so a test may change them; both agree on who the client is (`client_address`).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, cast

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Q
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

LOCKED_OUT_MESSAGE = "Too many failed logins for this user name or from this address."


def failure_limit(request: Any = None, credentials: Any = None) -> int:
    """Failures that lock a user name or an address (axes calls it with the request)."""
    return int(settings.LOGIN_FAILURE_LIMIT)


def window_seconds() -> int:
    """How long a failure counts: a lockout ends this long after the failure that caused it."""
    return int(settings.LOGIN_LOCKOUT_SECONDS)


def lockout_window(request: Any = None) -> timedelta:
    """The window as axes takes it (AXES_COOLOFF_TIME)."""
    return timedelta(seconds=window_seconds())


def client_address(request: HttpRequest | Request) -> str:
    """REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the address the outermost one saw.

    This is DRF's rule (REST_FRAMEWORK["NUM_PROXIES"]) used for axes as well, so both count the
    same client; without a proxy a forged X-Forwarded-For changes nothing."""
    # get_ident reads only the headers and META, which a plain HttpRequest (axes) has as well.
    return BaseThrottle().get_ident(cast(Request, request)) or ""


def axes_seconds_left(request: HttpRequest | Request, username: str) -> int:
    """Seconds until axes lets this user name and address try again; 0 when nothing counts.

    An upper bound: the window after the latest counted failure of either (axes stops counting
    during a lockout, so that failure is the one that locked)."""
    window = lockout_window()
    now = timezone.now()
    latest = (
        AccessAttempt.objects.filter(Q(username=username) | Q(ip_address=client_address(request)))
        .filter(attempt_time__gte=now - window)
        .aggregate(latest=Max("attempt_time"))["latest"]
    )
    if latest is None:
        return 0
    return max(1, math.ceil((latest + window - now).total_seconds()))
