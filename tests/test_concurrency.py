"""Twenty labellers at once: never the same crop twice, and no submission lost.

Each labeller is a thread with its own database connection (closed when the thread ends), going
through the whole API stack. `make test` runs this on SQLite (IMMEDIATE transactions serialise
the claims) and again on a real PostgreSQL server (SELECT ... FOR UPDATE SKIP LOCKED plus the
conditional UPDATE).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, transaction

from active_learning.queue.ranking import write_queue_scores
from annotations.masks import encode_rle
from annotations.models import Annotation, Crop, CropStatus
from tests.factories import add_member, client_for, make_crops, make_project, make_user, true_mask

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N_LABELLERS = 20


def all_at_once(work: Callable[[int], Any], n: int) -> list[Any]:
    """Run work(0..n-1) in n threads released together by a barrier."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        try:
            barrier.wait(timeout=30)
            return work(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.fixture
def team():
    project = make_project("crowd")
    users = [make_user(f"labeller{i:02d}") for i in range(N_LABELLERS)]
    for user in users:
        add_member(project, user)
    return project, users


def ask_next(project, user) -> int | None:
    response = client_for(user).post(f"/api/projects/{project.id}/next/")
    assert response.status_code in (200, 204), response.content
    return response.json()["id"] if response.status_code == 200 else None


def test_it_never_hands_two_labellers_the_same_crop_and_loses_no_submission(team):
    project, users = team
    crops = {crop.id: crop for crop in make_crops(project, 2 * N_LABELLERS)}
    served = all_at_once(lambda i: ask_next(project, users[i]), N_LABELLERS)
    assert None not in served
    assert len(set(served)) == N_LABELLERS
    holders = dict(Crop.objects.filter(status=CropStatus.LEASED).values_list("id", "leased_by"))
    assert holders == {crop_id: users[i].id for i, crop_id in enumerate(served)}

    def submit(i: int) -> int:
        crop = crops[served[i]]
        body = {"mask": encode_rle(true_mask(crop)), "seconds_spent": 1.0}
        return client_for(users[i]).post(f"/api/crops/{crop.id}/annotations/", body, format="json").status_code

    assert all_at_once(submit, N_LABELLERS) == [201] * N_LABELLERS
    assert Annotation.objects.filter(crop_id__in=served, version=1, is_current=True).count() == N_LABELLERS
    assert Crop.objects.filter(id__in=served, status=CropStatus.LABELLED, leased_by=None).count() == N_LABELLERS


def test_it_shares_out_a_short_queue_without_duplicates(team):
    project, users = team
    make_crops(project, 5)
    served = all_at_once(lambda i: ask_next(project, users[i]), N_LABELLERS)
    given = [crop_id for crop_id in served if crop_id is not None]
    assert len(given) == len(set(given)) == 5
    assert Crop.objects.filter(status=CropStatus.LEASED).count() == 5


def test_it_gives_one_labeller_asking_twice_at_once_one_crop(team):
    project, users = team
    make_crops(project, 10)
    served = all_at_once(lambda i: ask_next(project, users[0]), 4)
    assert len(set(served)) == 1
    assert Crop.objects.filter(status=CropStatus.LEASED).count() == 1


def test_a_queue_locked_by_a_re_ranking_is_waited_for_not_called_empty(team):
    """While a re-ranking holds every waiting crop's row lock, `next` waits for it to commit and
    serves the best crop of the new order (SKIP LOCKED alone would find no row and answer 204)."""
    project, users = team
    crops = make_crops(project, 3)
    locked, asking = threading.Event(), threading.Event()

    def re_rank() -> None:
        with transaction.atomic():
            write_queue_scores([(crop.id, float(i), "re-ranked") for i, crop in enumerate(crops)])
            locked.set()
            asking.wait(timeout=30)
            time.sleep(1)  # still holding the locks while the labeller asks

    def ask() -> int | None:
        locked.wait(timeout=30)
        asking.set()
        return ask_next(project, users[0])

    _, served = all_at_once(lambda i: (re_rank, ask)[i](), 2)
    assert served == crops[-1].id


def test_a_crop_waiting_for_its_second_label_goes_to_one_labeller_only(team):
    project, users = team
    project.double_label_share = 1.0
    project.save(update_fields=["double_label_share"])
    crops = make_crops(project, 2)
    first = ask_next(project, users[0])
    body = {"mask": encode_rle(true_mask(next(c for c in crops if c.id == first)))}
    assert client_for(users[0]).post(f"/api/crops/{first}/annotations/", body, format="json").status_code == 201
    served = all_at_once(lambda i: ask_next(project, users[i + 1]), 4)
    assert served.count(first) == 1  # the blind crop to one of them; another gets the open crop
    assert Crop.objects.get(pk=first).leased_by_id == users[1 + served.index(first)].id
