"""Obtaining an API token, and who am I."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import tokens
from annotations.api.common import parse
from annotations.api.serializers import TokenInput, TokenOutput, UserOutput


class TokenView(APIView):
    """Exchange a username and password for the user's API token (send it as `Authorization: Token <key>`)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=TokenInput, responses=TokenOutput, auth=[])
    def post(self, request: Request) -> Response:
        token = tokens.issue_token(request=request, **parse(TokenInput, request.data))
        return Response(TokenOutput({"token": token.key, "user": token.user}).data)


class MeView(APIView):
    @extend_schema(responses=UserOutput)
    def get(self, request: Request) -> Response:
        return Response(UserOutput(request.user).data)
