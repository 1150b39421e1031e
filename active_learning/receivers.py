"""What the learning side does when the labelling side announces something (annotations.signals)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from active_learning.jobs import dispatch_held
from active_learning.queue.curation import set_queue_settings
from active_learning.tasks import check_annotation_trigger
from annotations.models import Project
from annotations.signals import annotation_submitted, queue_settings_changed


@receiver(annotation_submitted, dispatch_uid="active_learning.retrain_after_annotations")
def check_retraining_trigger(sender: Any, *, project_id: int, **kwargs: Any) -> None:
    # Retraining after N new annotations is checked by a worker, off the labeller's request.
    if not dispatch_held():
        check_annotation_trigger.delay(project_id)


@receiver(queue_settings_changed, dispatch_uid="active_learning.rerank_on_settings")
def rerank_queue(sender: Any, *, project: Project, changes: dict[str, Any], **kwargs: Any) -> None:
    set_queue_settings(project, **changes)
