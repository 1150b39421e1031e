"""GeoJSON cell polygons (annotations/formats/geojson.py) and the overlap rule they share with COCO."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from PIL import Image as PILImage

from annotations.formats.geojson import label_features, read_objects
from annotations.formats.instances import OverlapRule, paint
from annotations.masks import MaskError
from tests.conftest import DATA

U2OS = DATA / "dsb2018_u2os" / "masks" / "07fb37aafa66.png"
BRIGHTFIELD = DATA / "dsb2018_brightfield" / "masks" / "00ae65c1c663.png"


def load(path) -> np.ndarray:
    return np.array(PILImage.open(path)).astype(np.uint32)


def round_trip(labels: np.ndarray, **options) -> np.ndarray:
    collection = json.loads(json.dumps(label_features(labels, **options)))  # through real JSON text
    objects = read_objects(collection["features"], labels.shape, name="cells.geojson")
    painted, _ = paint(objects, labels.shape, rule=OverlapRule.SMALLER_WINS, name="cells.geojson")
    return painted


def square(x0: float, y0: float, x1: float, y1: float, **properties) -> dict:
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": properties}


@pytest.mark.parametrize("path", [U2OS, BRIGHTFIELD], ids=["u2os", "brightfield"])
def test_exact_outlines_give_back_every_pixel(path):
    labels = load(path)
    assert np.array_equal(round_trip(labels), labels)


def test_features_are_what_qupath_reads():
    labels = np.zeros((6, 6), dtype=np.uint32)
    labels[1:3, 1:4] = 1
    feature = label_features(labels)["features"][0]
    assert feature["geometry"]["type"] == "Polygon"
    assert feature["properties"]["objectType"] == "detection"
    assert feature["properties"]["classification"]["name"] == "Cell"
    ring = shapely.Polygon(feature["geometry"]["coordinates"][0])
    assert ring.bounds == (1.0, 1.0, 4.0, 3.0)  # pixel edges, (0, 0) = top-left pixel corner
    assert label_features(labels, object_type="annotation")["features"][0]["properties"]["objectType"] == "annotation"


def test_holes_and_corner_touching_pixels_survive():
    labels = np.zeros((7, 7), dtype=np.uint32)
    labels[1:6, 1:6] = 1
    labels[3, 3] = 0  # a hole
    labels[6, 6] = 2
    labels[5, 5] = 2  # touches its other pixel only at a corner
    labels[5, 5] = 0
    labels[0, 0], labels[1, 1] = 3, 0
    features = label_features(labels)["features"]
    assert any(shapely.geometry.shape(f["geometry"]).interiors for f in features
               if f["geometry"]["type"] == "Polygon")
    assert np.array_equal(round_trip(labels), labels)


def test_simplified_outlines_stay_within_tolerance():
    labels = load(BRIGHTFIELD)
    simplified = round_trip(labels, tolerance=0.5)
    exact = label_features(labels)["features"]
    fewer = label_features(labels, tolerance=0.5)["features"]
    assert sum(len(json.dumps(f)) for f in fewer) < sum(len(json.dumps(f)) for f in exact)
    n = int(labels.max()) + 1
    area, area_after = np.bincount(labels.ravel(), minlength=n), np.bincount(simplified.ravel(), minlength=n)
    shared = np.bincount(labels[labels == simplified], minlength=n)
    iou = shared / np.maximum(area + area_after - shared, 1)
    assert (iou[1:][area[1:] >= 40] >= 0.9).all()  # same ids: the features keep the cells' order


def test_smaller_polygons_win_overlaps_whatever_the_order():
    big, small = square(0, 0, 6, 6), square(2, 2, 4, 4)
    for features in ([big, small], [small, big]):
        objects = read_objects(features, (6, 6), name="f.geojson")
        labels, report = paint(objects, (6, 6), rule=OverlapRule.SMALLER_WINS, name="f.geojson")
        assert set(np.unique(labels)) == {1, 2} and report.contested_pixels == 4
        assert (labels[2:4, 2:4] == labels[2, 2]).all() and (labels == labels[2, 2]).sum() == 4


def test_overlaps_can_be_refused_naming_both_features():
    objects = read_objects([square(0, 0, 4, 4), square(2, 2, 6, 6)], (6, 6), name="f.geojson")
    with pytest.raises(MaskError, match=r"f.geojson: feature 1 and feature 2 overlap \(4 pixels\)"):
        paint(objects, (6, 6), rule=OverlapRule.REJECT, name="f.geojson")


def test_a_covered_cell_is_dropped_and_reported():
    objects = read_objects([square(1, 1, 3, 3), square(1, 1, 3, 3)], (4, 4), name="f.geojson")
    labels, report = paint(objects, (4, 4), rule=OverlapRule.SMALLER_WINS, name="f.geojson")
    assert labels.max() == 1 and report.dropped == ["feature 1"]


def test_object_type_keeps_only_detections():
    region = square(0, 0, 8, 8, objectType="annotation")
    cell = square(2, 2, 4, 4, objectType="detection")
    assert len(read_objects([region, cell], (8, 8), name="f", object_type="detection")) == 1


@pytest.mark.parametrize(
    "feature,message",
    [
        ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 1]}}, "feature 1 is a Point"),
        ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": "x"}}, "feature 1 has no readable"),
        (square(100, 100, 120, 120), "feature 1 lies outside the 10x10 image"),
    ],
)
def test_bad_features_are_refused_naming_the_file_and_feature(feature, message):
    with pytest.raises(MaskError, match=f"cells.geojson: {message}"):
        read_objects([feature], (10, 10), name="cells.geojson")


def test_self_crossing_rings_are_repaired():
    bowtie = {"type": "Feature", "geometry": {"type": "Polygon",
                                              "coordinates": [[[0, 0], [4, 4], [4, 0], [0, 4], [0, 0]]]}}
    (obj,) = read_objects([bowtie], (4, 4), name="f")
    assert obj.area > 0
