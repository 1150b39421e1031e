"""POST /api/crops/{id}/propose/: click to cell, from the serving prediction's stored maps (or a
classical proposal where there are none), for the labeller who holds the crop's lease."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from active_learning.models import Prediction
from active_learning.outputs import CropPrediction
from active_learning.prediction import store_predictions
from active_learning.proposals import NO_MAPS, NO_MODEL, one_at_a_time
from annotations.masks import decode_rle, encode_rle
from tests.factories import faint_cell, make_model_version, make_prediction, maps_of, true_mask


@pytest.fixture
def leased(labeller_client, project, crop):
    assert labeller_client.post(f"/api/projects/{project.id}/next/").json()["id"] == crop.id
    return crop


def click(cell: np.ndarray) -> dict[str, float]:
    row, col = np.unravel_index(np.argmax(ndimage.distance_transform_edt(cell)), cell.shape)
    return {"x": col + 0.5, "y": row + 0.5}


def propose(client, crop, **body):
    return client.post(f"/api/crops/{crop.id}/propose/", body, format="json")


def test_it_proposes_the_missed_cell_from_the_stored_flows(labeller_client, project, leased):
    truth = true_mask(leased)
    faint = faint_cell(truth)
    prediction = make_prediction(leased, make_model_version(project, 3), np.where(truth == faint, 0, truth))
    prediction.maps = maps_of(truth, faint)
    prediction.save()
    response = propose(labeller_client, leased, mode="point", **click(truth == faint))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["cells"], body["model_version"], body["method"], body["message"]) == (1, 3, "flows", None)
    mask = decode_rle(body["mask"], truth.shape)
    assert np.count_nonzero((mask == 1) & (truth == faint)) / np.count_nonzero((mask == 1) | (truth == faint)) > 0.8


def test_a_box_proposes_each_cell_in_it(labeller_client, project, leased):
    truth = true_mask(leased)
    prediction = make_prediction(leased, make_model_version(project, 1))
    prediction.maps = maps_of(truth, faint_cell(truth))
    prediction.save()
    h, w = truth.shape
    response = propose(labeller_client, leased, mode="box", box=[0, 0, w, h])
    assert response.status_code == 200, response.json()
    assert response.json()["cells"] >= 2


def test_without_a_model_the_proposal_is_classical_and_says_so(labeller_client, leased):
    truth = true_mask(leased)
    body = propose(labeller_client, leased, mode="point", **click(truth == faint_cell(truth))).json()
    assert (body["method"], body["model_version"]) == ("classical", None)
    assert body["message"] == NO_MODEL or body["message"].endswith(f"({NO_MODEL})")
    assert decode_rle(body["mask"]).shape == truth.shape


def test_a_prediction_without_maps_falls_back_to_classical(labeller_client, project, leased):
    make_prediction(leased, make_model_version(project, 2))
    truth = true_mask(leased)
    body = propose(labeller_client, leased, mode="point", **click(truth == faint_cell(truth))).json()
    assert (body["method"], body["model_version"]) == ("classical", 2)
    assert NO_MAPS in body["message"]


def test_a_redo_of_the_same_outline_proposes_nothing_better(labeller_client, project, leased):
    truth = true_mask(leased)
    faint = faint_cell(truth)
    prediction = make_prediction(leased, make_model_version(project, 1))
    prediction.maps = maps_of(truth, faint)
    prediction.save()
    cell = (truth == faint).astype(np.uint16)
    body = propose(labeller_client, leased, mode="redo", cell=encode_rle(cell), **click(cell > 0)).json()
    assert (body["cells"], body["message"]) == (0, "the model proposes nothing better for this cell")


def test_it_needs_a_live_lease(labeller_client, crop):
    response = propose(labeller_client, crop, mode="point", x=5, y=5)
    assert response.status_code == 409
    assert response.json()["code"] == "no_lease"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "lasso", "x": 1, "y": 1}, "mode"),
        ({"mode": "point", "x": 1}, "y"),
        ({"mode": "point", "x": -1, "y": 1}, "x"),
        ({"mode": "point", "x": 1, "y": 10_000}, "y"),
        ({"mode": "point", "x": "NaN", "y": 1}, "x"),
        ({"mode": "box", "box": [10, 10, 5, 20]}, "box"),
        ({"mode": "box", "box": [0, 0, 1]}, "box"),
        ({"mode": "redo", "x": 1, "y": 1}, "cell"),
        ({"mode": "redo", "x": 1, "y": 1, "cell": {"encoding": "rle", "height": 2, "width": 2, "runs": [1, 4]}},
         "cell"),
    ],
)
def test_it_refuses_bad_input_naming_the_field(labeller_client, leased, body, field):
    response = labeller_client.post(f"/api/crops/{leased.id}/propose/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_one_proposal_at_a_time_per_labeller(labeller_client, labeller, leased):
    with one_at_a_time(labeller):
        response = propose(labeller_client, leased, mode="point", x=5, y=5)
    assert response.status_code == 429
    assert response.json()["code"] == "proposal_busy"
    assert propose(labeller_client, leased, mode="point", x=5, y=5).status_code == 200


def test_predictions_keep_their_maps_and_only_the_newest_versions(project, crop):
    old, new = make_model_version(project, 1, status="retired"), make_model_version(project, 2)
    truth = true_mask(crop)
    output = CropPrediction(truth, np.zeros(truth.shape, np.float32), np.zeros((2, *truth.shape), np.float32),
                            np.zeros(4, np.float32))
    store_predictions(old, [crop], [output])
    store_predictions(new, [crop], [output])
    maps = dict(Prediction.objects.values_list("model_version__number", "maps"))
    assert maps[1] is None and len(maps[2]) > 0
