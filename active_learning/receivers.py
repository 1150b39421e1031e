"""What the learning side does when the labelling side announces something (annotations.signals)."""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver
from kombu.exceptions import OperationalError

from active_learning.agreement import record_prediction_difference
from active_learning.jobs import dispatch_held
from active_learning.queue.curation import set_queue_settings
from active_learning.tasks import check_annotation_trigger
from annotations.models import Project
from annotations.signals import annotation_submitted, queue_settings_changed

logger = logging.getLogger(__name__)


@receiver(annotation_submitted, dispatch_uid="active_learning.retrain_after_annotations")
def check_retraining_trigger(sender: Any, *, project_id: int, **kwargs: Any) -> None:
    # Retraining after N new annotations is checked by a worker, off the labeller's request.
    if dispatch_held():
        return
    try:
        check_annotation_trigger.delay(project_id)
    except OperationalError as exc:
        # The annotation is saved; only the check is lost, and the next submission checks again.
        logger.warning("retraining trigger of project %s not checked: the broker is unreachable (%s)", project_id, exc)


@receiver(annotation_submitted, dispatch_uid="active_learning.prediction_difference")
def note_prediction_difference(sender: Any, *, annotation_id: int, **kwargs: Any) -> None:
    # A few milliseconds (two crop-sized masks matched), so the review queue can sort by it at once.
    record_prediction_difference(annotation_id)


@receiver(queue_settings_changed, dispatch_uid="active_learning.rerank_on_settings")
def rerank_queue(sender: Any, *, project: Project, changes: dict[str, Any], **kwargs: Any) -> None:
    set_queue_settings(project, **changes)
