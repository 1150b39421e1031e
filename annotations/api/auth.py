"""Obtaining an API token, and who am I."""

from __future__ import annotations

from typing import NoReturn

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import login_limits, tokens
from annotations.api.common import parse
from annotations.api.serializers import TokenInput, TokenOutput, UserOutput
from annotations.api.throttles import LoginAddressThrottle, LoginFailureThrottle, LoginUsernameThrottle
from labelserver.errors import DomainError


class LoginThrottled(Throttled):
    default_detail = login_limits.LOCKED_OUT_MESSAGE


class TokenView(APIView):
    """Exchange a username and password for the user's API token (send it as `Authorization: Token <key>`).

    Wrong passwords are limited per user name and per client address (LOGIN_FAILURE_LIMIT in
    LOGIN_LOCKOUT_SECONDS, shared with the login form): past the limit the answer is 429 with
    Retry-After, even for the right password, until the window has passed."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginUsernameThrottle, LoginAddressThrottle]

    @extend_schema(request=TokenInput, responses=TokenOutput, auth=[])  # 429: labelserver/openapi.py
    def post(self, request: Request) -> Response:
        credentials = parse(TokenInput, request.data)
        try:
            token = tokens.issue_token(request=request, **credentials)
        except DomainError:
            self._count_failure(request, credentials["username"])
            raise
        return Response(TokenOutput({"token": token.key, "user": token.user}).data)

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        raise LoginThrottled(wait)

    def _count_failure(self, request: Request, username: str) -> None:
        """Count a wrong password; 429 instead of 400 when that reached a limit, or when the
        login forms' lockout (django-axes, which saw this failure too) holds the name or address."""
        throttles = [t for t in self.get_throttles() if isinstance(t, LoginFailureThrottle)]
        waits = [throttle.record_failure(request, self) for throttle in throttles]
        if getattr(request, "axes_locked_out", False):
            waits.append(login_limits.axes_seconds_left(request, username))
        wait = max((w for w in waits if w), default=None)
        if wait is not None:
            raise LoginThrottled(wait)


class MeView(APIView):
    @extend_schema(responses=UserOutput)
    def get(self, request: Request) -> Response:
        return Response(UserOutput(request.user).data)
