"""Factories and the named actors every test uses."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from annotations.models import Membership, Project, Role

User = get_user_model()
PASSWORD = "correct horse battery staple"


def make_user(username: str, *, staff: bool = False) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, is_staff=staff)


def make_project(name: str = "nuclei", **fields: object) -> Project:
    return Project.objects.create(name=name, **fields)


def add_member(project: Project, user: User, role: str = Role.LABELLER) -> Membership:
    return Membership.objects.create(project=project, user=user, role=role)


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def project(db) -> Project:
    return make_project()


@pytest.fixture
def other_project(db) -> Project:
    return make_project("other")


@pytest.fixture
def admin(project) -> User:
    user = make_user("ada")
    add_member(project, user, Role.ADMIN)
    return user


@pytest.fixture
def labeller(project) -> User:
    user = make_user("lee")
    add_member(project, user, Role.LABELLER)
    return user


@pytest.fixture
def outsider(other_project) -> User:
    user = make_user("otto")
    add_member(other_project, user, Role.ADMIN)
    return user


@pytest.fixture
def admin_client(admin) -> APIClient:
    return client_for(admin)


@pytest.fixture
def labeller_client(labeller) -> APIClient:
    return client_for(labeller)


@pytest.fixture
def outsider_client(outsider) -> APIClient:
    return client_for(outsider)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()
