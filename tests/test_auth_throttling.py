"""Wrong passwords are limited: per user name and per client address, on the API token endpoint
(DRF throttles) and on the login form (django-axes), with 429, a clear message and Retry-After;
the right password works again once the window has passed (the clock is moved, not waited for)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from annotations.api.throttles import LoginFailureThrottle

PASSWORD = "a-long-enough-test-password"
LIMIT = 30  # the default LOGIN_FAILURE_LIMIT
WINDOW = 15 * 60  # the default LOGIN_LOCKOUT_SECONDS
TOKEN_URL = "/api/auth/token/"
LOGIN_URL = "/accounts/login/"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    """MD5, so that 30 wrong passwords take milliseconds: the limits count failures, not hashing
    time. (tests/conftest.py empties the cache, where the API's counts live, after each test.)"""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def user():
    return get_user_model().objects.create_user("lee", password=PASSWORD)


class Clock:
    """Moves time forward for the throttles (time.time) and for django-axes (timezone.now)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = 0.0
        real_time, real_now = time.time, timezone.now
        fake_now = lambda: real_now() + timedelta(seconds=self.offset)  # noqa: E731
        monkeypatch.setattr(LoginFailureThrottle, "timer", staticmethod(lambda: real_time() + self.offset))
        for module in ("django.utils.timezone", "axes.attempts", "axes.handlers.proxy"):
            monkeypatch.setattr(f"{module}.now", fake_now)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return Clock(monkeypatch)


def token(username: str, password: str, address: str = "10.0.0.1", **headers: str):
    return APIClient().post(TOKEN_URL, {"username": username, "password": password}, format="json",
                            REMOTE_ADDR=address, **headers)


def form_login(username: str, password: str, address: str = "10.0.0.1"):
    return Client().post(LOGIN_URL, {"username": username, "password": password}, REMOTE_ADDR=address)


def assert_locked(response) -> int:
    assert response.status_code == 429, response.content
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= WINDOW
    return retry_after


# --- The API token endpoint -----------------------------------------------------------------


def test_thirty_wrong_passwords_for_one_user_name_lock_it_from_every_address_until_the_window_passes(user, clock):
    for attempt in range(1, LIMIT):
        assert token("lee", "wrong", address=f"10.0.1.{attempt}").status_code == 400

    refused = token("lee", "wrong", address="10.0.1.200")
    assert assert_locked(refused) > WINDOW - 60
    assert "Too many failed logins" in refused.json()["detail"]
    assert_locked(token("lee", PASSWORD, address="10.0.2.1"))  # the right password too, from anywhere

    clock.advance(WINDOW - 60)
    assert_locked(token("lee", PASSWORD, address="10.0.2.1"))
    clock.advance(61)
    assert token("lee", PASSWORD, address="10.0.2.1").status_code == 200


def test_thirty_wrong_passwords_from_one_address_lock_it_across_user_names(user, clock):
    for attempt in range(1, LIMIT):
        assert token(f"guess{attempt}", "wrong").status_code == 400
    assert_locked(token("guess-last", "wrong"))

    assert_locked(token("lee", PASSWORD))  # this address may not try any name
    assert token("lee", PASSWORD, address="10.9.9.9").status_code == 200  # another address may

    clock.advance(WINDOW + 1)
    assert token("lee", PASSWORD).status_code == 200


def test_the_right_password_is_never_counted(user):
    for _ in range(LIMIT + 5):
        assert token("lee", PASSWORD).status_code == 200


def test_a_forged_x_forwarded_for_does_not_make_a_new_client(user):
    for attempt in range(LIMIT - 1):
        token(f"guess{attempt}", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}")
    assert_locked(token("guess-last", "wrong", HTTP_X_FORWARDED_FOR="192.0.2.250"))


def test_behind_a_proxy_the_address_it_saw_is_the_client(user, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    for attempt in range(LIMIT - 1):
        # The client may write anything in front; the proxy appends the address it saw.
        token(f"guess{attempt}", "wrong", address="10.0.0.254", HTTP_X_FORWARDED_FOR=f"1.2.3.{attempt}, 198.51.100.7")
    assert_locked(token("guess-last", "wrong", address="10.0.0.254", HTTP_X_FORWARDED_FOR="198.51.100.7"))
    assert token("lee", PASSWORD, address="10.0.0.254", HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 200


def test_the_limit_and_window_come_from_the_settings(user, settings, clock):
    settings.LOGIN_FAILURE_LIMIT, settings.LOGIN_LOCKOUT_SECONDS = 3, 60
    assert [token("lee", "wrong").status_code for _ in range(3)] == [400, 400, 429]
    assert int(token("lee", PASSWORD)["Retry-After"]) <= 60
    clock.advance(61)
    assert token("lee", PASSWORD).status_code == 200


# --- The login form (django-axes) -----------------------------------------------------------


def test_thirty_wrong_passwords_lock_the_login_form_with_a_clear_message_until_the_window_passes(user, clock):
    for attempt in range(1, LIMIT):
        answer = form_login("lee", "wrong", address=f"10.0.3.{attempt}")
        assert answer.status_code == 200 and b"do not match" in answer.content

    refused = form_login("lee", "wrong", address="10.0.3.200")
    assert_locked(refused)
    message = b"Too many failed logins for this user name or from this address. Try again in 15 minutes."
    assert message in refused.content
    assert b'value="lee"' in refused.content
    assert_locked(form_login("lee", PASSWORD, address="10.0.4.1"))

    clock.advance(WINDOW + 1)
    answer = form_login("lee", PASSWORD, address="10.0.4.1")
    assert answer.status_code == 302 and answer["Location"] == "/"


def test_the_login_form_locks_an_address_across_user_names(user, clock):
    for attempt in range(1, LIMIT + 1):
        answer = form_login(f"guess{attempt}", "wrong")
    assert_locked(answer)
    assert_locked(form_login("lee", PASSWORD))
    assert form_login("lee", PASSWORD, address="10.9.9.9").status_code == 302


def test_the_form_and_the_api_share_one_count(user, clock):
    """Wrong passwords in the form lock the API as well, and the other way round: no door gives
    an attacker a second allowance."""
    for attempt in range(1, LIMIT + 1):
        form_login("lee", "wrong", address=f"10.0.5.{attempt}")
    refused = token("lee", PASSWORD, address="10.0.6.1")
    assert_locked(refused)
    assert "Too many failed logins" in refused.json()["detail"]

    clock.advance(WINDOW + 1)
    for attempt in range(1, LIMIT):
        token("lee", "wrong", address=f"10.0.7.{attempt}")
    assert_locked(token("lee", "wrong", address="10.0.7.250"))
    assert_locked(form_login("lee", PASSWORD, address="10.0.8.1"))
