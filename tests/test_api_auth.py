"""POST /api/auth/token/, GET /api/me/, and how session and token clients authenticate."""

from __future__ import annotations

from rest_framework.test import APIClient

from tests.factories import PASSWORD, make_crops

CSRF = "a" * 32  # a well-formed CSRF secret, as the csrftoken cookie would hold


def token_for(username: str, password: str = PASSWORD):
    return APIClient().post("/api/auth/token/", {"username": username, "password": password}, format="json")


def test_it_gives_a_token_for_a_correct_password(labeller):
    response = token_for("lee")
    assert response.status_code == 200
    assert response.json()["user"] == {"id": labeller.id, "username": "lee", "is_staff": False}
    assert token_for("lee").json()["token"] == response.json()["token"]


def test_it_refuses_a_wrong_password(labeller):
    response = token_for("lee", "guess")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_credentials"
    assert "token" not in response.json()


def test_it_authenticates_with_the_token_without_csrf(labeller, project):
    make_crops(project, 1)
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for('lee').json()['token']}")
    assert client.get("/api/me/").json()["username"] == "lee"
    assert client.post(f"/api/projects/{project.id}/next/").status_code == 200


def test_it_refuses_a_bad_token(labeller):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token nonsense")
    response = client.get("/api/me/")
    assert response.status_code in (401, 403)  # 403 while SessionAuthentication comes first in settings
    assert response.json()["detail"] == "Invalid token."


def test_it_enforces_csrf_on_session_writes(labeller, project):
    make_crops(project, 1)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(labeller)  # login() would call authenticate() with no request, which django-axes refuses
    assert client.get(f"/api/projects/{project.id}/").status_code == 200
    refused = client.post(f"/api/projects/{project.id}/next/")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    client.cookies["csrftoken"] = CSRF
    assert client.post(f"/api/projects/{project.id}/next/", HTTP_X_CSRFTOKEN=CSRF).status_code == 200


def test_it_turns_anonymous_clients_away(anon_client, project):
    assert anon_client.get("/api/me/").status_code in (401, 403)
    assert anon_client.post(f"/api/projects/{project.id}/next/").status_code in (401, 403)
