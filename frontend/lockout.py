"""The login page's answer once django-axes has locked a user name or an address out
(AXES_LOCKOUT_CALLABLE in labelserver/settings.py): the page again, saying why and for how long,
with status 429 and Retry-After."""

from __future__ import annotations

import math
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotations import login_limits


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    seconds = login_limits.axes_seconds_left(request, username) or login_limits.window_seconds()
    minutes = math.ceil(seconds / 60)
    message = f"{login_limits.LOCKED_OUT_MESSAGE} Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    context = {"lockout": message, "username": username, "next": request.POST.get("next", "")}
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response
