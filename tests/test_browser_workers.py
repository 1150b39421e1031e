"""The Training page lists the live Celery workers, in a real headless Chromium, with a REAL worker
process on a real Redis broker: its name, the device it reports and its queues, and it is gone
from the list once it stops."""

from __future__ import annotations

import pytest

from tests.redis_broker import redis_url  # noqa: F401  (fixture)
from tests.test_browser_e2e import browser, log_in, open_page, screenshot  # noqa: F401  (fixtures)
from tests.worker import start_worker, stop_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_training_page_lists_the_live_workers_with_their_device(project, admin, open_page, redis_url,  # noqa: F811
                                                                     tmp_path):
    worker = start_worker(tmp_path / "worker.log", queues="gpu", CELERY_BROKER_URL=redis_url)
    try:
        page = open_page()
        log_in(page, "ada", f"/projects/{project.pk}/training/")
        row = page.locator("#workers tr[data-worker^='test-']")
        # The page asks every 10 s; the worker reports its device once its probe has answered.
        row.filter(has_text="cpu").or_(row.filter(has_text="GiB")).wait_for(timeout=40_000)
        assert row.locator("td").nth(2).inner_text() == "gpu"
        screenshot(page, "training_workers.png", full_page=True)
    finally:
        stop_worker(worker)
    page.locator("#workers", has_text="No worker answered").wait_for(timeout=30_000)
