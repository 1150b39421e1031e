"""Two admins demoting each other at the same moment: one of them stays admin.

Each admin is a thread with its own database connection, through the whole API stack. On SQLite
the IMMEDIATE transactions run the two one after the other; on PostgreSQL (`make test` runs this
again there) the check locks the project's admin rows, so the second waits and sees the first.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from annotations.models import Membership, Role
from tests.factories import add_member, client_for, make_project, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 10


def demote_each_other_at_once(project, first, second) -> list[int]:
    """`first` demotes `second` while `second` demotes `first`; the two answers' statuses, sorted."""
    barrier = threading.Barrier(2)

    def demote(actor, target) -> int:
        try:
            barrier.wait(timeout=30)
            url = f"/api/projects/{project.id}/members/{target.id}/"
            return client_for(actor).patch(url, {"role": Role.LABELLER}, format="json").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        return sorted(pool.map(demote, [first, second], [second, first]))


def test_two_admins_demoting_each_other_at_once_leave_one_admin():
    for round_ in range(ROUNDS):
        project = make_project(f"pair {round_}")
        first, second = make_user(f"first{round_}"), make_user(f"second{round_}")
        add_member(project, first, Role.ADMIN)
        add_member(project, second, Role.ADMIN)
        # The loser is refused as the last admin (409), or, when the winner's change came first, as
        # no longer an admin at all (403).
        statuses = demote_each_other_at_once(project, first, second)
        assert statuses[0] == 200 and statuses[1] in (403, 409), (round_, statuses)
        assert Membership.objects.filter(project=project, role=Role.ADMIN).count() == 1
