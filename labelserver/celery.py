"""The Celery application. Workers: `celery -A labelserver worker -Q default` (CPU work) and
`celery -A labelserver worker -Q gpu --concurrency 1 --max-tasks-per-child 1` (model jobs)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelserver.settings")

app = Celery("labelserver")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _create_broker_folders(sender: Celery, **kwargs: object) -> None:
    # kombu's filesystem transport does not create its folders.
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        for key in ("data_folder_in", "control_folder"):
            os.makedirs(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key], exist_ok=True)
