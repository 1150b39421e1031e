"""Reports for admins: learning curve, weakest crops, payoff of active learning, labellers."""

from __future__ import annotations

import numpy as np
import pytest

from active_learning import reports
from active_learning.models import ModelVersion, ModelVersionStatus
from annotations.masks import encode_png
from annotations.models import Annotation, CropStatus
from tests.factories import make_crops


def _label(crop, author, *, reason: str, seconds: float, edits: dict[str, int], cells: int) -> Annotation:
    crop.status = CropStatus.LABELLED
    crop.save()
    return Annotation.objects.create(
        crop=crop, version=1, author=author, mask_png=encode_png(np.zeros((2, 2))), n_cells=cells,
        queue_reason=reason, seconds_spent=seconds, edit_counts=edits,
    )


@pytest.fixture
def labelled(project, labeller, admin):
    crops = make_crops(project, 4)
    _label(crops[0], labeller, reason="strategy:combined", seconds=30, edits={"delete": 2, "lasso": 4}, cells=10)
    _label(crops[1], labeller, reason="strategy:combined", seconds=50, edits={"brush": 6}, cells=10)
    _label(crops[2], admin, reason="random-control", seconds=20, edits={"delete": 1}, cells=10)
    return crops


def test_the_payoff_compares_ranked_crops_with_the_random_control_group(project, labelled):
    payoff = reports.active_learning_payoff(project)
    assert payoff["ranked"] == {"crops": 2, "cells": 20, "seconds_per_crop": 40.0, "edits_per_cell": 12 / 20,
                                "actions": 12, "actions_per_cell": 12 / 20, "assisted_share": 0.0}
    assert payoff["random-control"] == {"crops": 1, "cells": 10, "seconds_per_crop": 20.0, "edits_per_cell": 0.1,
                                        "actions": 1, "actions_per_cell": 0.1, "assisted_share": 0.0}


def test_the_payoff_counts_actions_per_cell_from_the_action_kinds_labellers_submit(project, labeller):
    crops = make_crops(project, 4)
    # Ranked: 3 clicks, 1 redo, 1 delete and 1 lasso over 40 cells; "pan" is no action (an edit
    # kind this report does not know), an imported annotation not the editor's.
    _label(crops[0], labeller, reason="strategy:combined", seconds=10, cells=25,
           edits={"click_add": 3, "redo": 1, "delete": 1, "pan": 7})
    _label(crops[1], labeller, reason="pinned", seconds=10, cells=15, edits={"lasso": 1})
    _label(crops[2], labeller, reason="random-control", seconds=10, cells=8, edits={"lasso": 2, "box_add": 2})
    imported = _label(crops[3], labeller, reason="random-control", seconds=0, cells=50, edits={"lasso": 50})
    Annotation.objects.filter(pk=imported.pk).update(source="import")

    payoff = reports.active_learning_payoff(project)

    assert (payoff["ranked"]["actions"], payoff["ranked"]["cells"]) == (6, 40)
    assert payoff["ranked"]["actions_per_cell"] == pytest.approx(0.15)
    assert payoff["ranked"]["edits_per_cell"] == pytest.approx(13 / 40)
    assert payoff["ranked"]["assisted_share"] == pytest.approx(4 / 6)
    assert payoff["random-control"]["actions_per_cell"] == pytest.approx(0.5)
    assert payoff["random-control"]["assisted_share"] == pytest.approx(0.5)


def test_it_sums_each_labellers_work(project, labelled):
    stats = {row["username"]: row for row in reports.labeller_stats(project)}
    assert stats["lee"] == {"username": "lee", "crops": 2, "cells": 20, "seconds_per_crop": 40.0,
                            "edits_per_cell": 0.6, "actions_per_cell": 0.6, "returned_share": 0.0,
                            "agreement": reports.NO_AGREEMENT}
    assert stats["ada"]["crops"] == 1


def test_the_learning_curve_has_one_point_per_evaluated_version(project):
    for number, cells, ap in ((1, 100, 0.4), (2, 250, 0.6), (3, 400, None)):
        ModelVersion.objects.create(project=project, number=number, n_train_cells=cells,
                                    metrics={"ap50": ap} if ap is not None else {},
                                    status=ModelVersionStatus.REJECTED)
    curve = reports.learning_curve(project)
    assert [(p["n_train_cells"], p["ap50"]) for p in curve] == [(100, 0.4), (250, 0.6)]


def test_a_version_report_lists_the_weakest_validation_crops_first(project):
    per_crop = [{"crop": i, "ap50": ap, "n_true": 5} for i, ap in enumerate([0.9, 0.1, 0.5, 1.0])]
    version = ModelVersion.objects.create(project=project, number=1, metrics={"ap50": 0.6, "per_crop": per_crop})
    assert [c["crop"] for c in reports.version_report(version)["weakest_crops"]] == [1, 2, 0, 3]


def test_the_overview_counts_crops_and_cells(admin_client, project, labelled):
    body = admin_client.get(f"/api/projects/{project.pk}/report/").json()
    assert body["crops"]["train"]["labelled"] == 3 and body["crops"]["train"]["unlabelled"] == 1
    assert body["labelled_cells"] == 30
    assert body["active_version"] is None


def test_reports_are_for_admins(labeller_client, project):
    assert labeller_client.get(f"/api/projects/{project.pk}/report/").status_code == 403
