"""The promotion gate reuses the active version's stored metrics when nothing it was measured on
has changed: the validation annotations (versions) and the settings that make masks."""

from __future__ import annotations

import numpy as np

from active_learning.datasets import labelled_crops
from active_learning.validation import evaluation_key, incumbent_metrics
from annotations import leases, submissions
from annotations.models import Split
from tests.factories import make_crops, make_model_version, make_user, true_mask


def _label(crops, user, mask=None):
    for crop in crops:
        leases.lease_crop(crop=crop, user=user, as_admin=True)
        submissions.submit_annotation(crop=crop, user=user, mask=true_mask(crop) if mask is None else mask)


def test_the_stored_metrics_of_the_active_version_are_reused_on_the_same_validation_crops(project):
    user = make_user("boss", staff=True)
    _label(make_crops(project, 3, split=Split.VALIDATION), user)
    validation = labelled_crops(project, Split.VALIDATION)
    version = make_model_version(project)
    key = evaluation_key(project.backend_settings, validation)
    stored = {"ap50": 0.7, "ap75": 0.5, "ap90": 0.1, "evaluation_key": key}
    version.metrics = stored
    version.save()
    # A version without weights cannot be evaluated: getting the stored metrics back proves no evaluation ran.
    assert incumbent_metrics(version, validation) == stored


def test_with_no_validation_crop_left_the_active_version_keeps_its_stored_metrics(project):
    version = make_model_version(project)
    version.metrics = {"ap50": 0.7, "ap75": 0.5, "ap90": 0.1, "evaluation_key": "measured on crops since moved"}
    version.save()
    assert incumbent_metrics(version, []) == {}  # nothing to compare on
    version.refresh_from_db()
    assert version.metrics["ap50"] == 0.7


def test_a_new_validation_annotation_or_new_prediction_settings_change_the_key(project):
    user = make_user("boss", staff=True)
    crops = make_crops(project, 2, split=Split.VALIDATION)
    _label(crops, user)
    before = evaluation_key(project.backend_settings, labelled_crops(project, Split.VALIDATION))
    _label(crops[:1], user, mask=np.zeros((crops[0].height, crops[0].width), np.uint16))
    corrected = evaluation_key(project.backend_settings, labelled_crops(project, Split.VALIDATION))
    assert corrected != before
    tuned = evaluation_key({"predict": {"flow_threshold": 0.8}}, labelled_crops(project, Split.VALIDATION))
    assert tuned != corrected
    assert evaluation_key(project.backend_settings, labelled_crops(project, Split.VALIDATION)) == corrected
