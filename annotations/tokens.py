"""API tokens for scripts: `POST /api/auth/token/` trades a username and password for one."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from rest_framework.authtoken.models import Token

from labelserver.errors import DomainError


def issue_token(*, username: str, password: str, request: Any = None) -> Token:
    """The user's API token (created on first use), for a correct username and password."""
    user = authenticate(request, username=username, password=password)
    if user is None:
        raise DomainError("unable to log in with this username and password", code="bad_credentials")
    return Token.objects.get_or_create(user=user)[0]
