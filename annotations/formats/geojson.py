"""Cell polygons as GeoJSON, the way QuPath reads and writes them.

Coordinates are image pixels, x to the right and y down, with (0, 0) the top-left corner of the
top-left pixel (QuPath's convention): pixel (row r, column c) is the square [c, c+1] x [r, r+1].

Export (`label_features`): one Feature per cell, geometry ``Polygon`` (``MultiPolygon`` for a
cell whose pixels touch only at corners or lie in pieces), properties ``objectType``
("detection" by default, or "annotation"), ``classification`` {name, color} and
``measurements`` {"Cell id": id}. Outlines follow pixel edges exactly, so with the default
tolerance of 0 the polygons give back the label image pixel for pixel. A `tolerance` > 0
simplifies the outlines (Douglas-Peucker, topology kept) to fewer vertices: each outline then
stays within `tolerance` pixels of the exact one.

Import (`read_objects`): a FeatureCollection, a bare list of Features, or one Feature, with
Polygon or MultiPolygon geometries (holes allowed; invalid rings are repaired with
shapely.make_valid). A pixel belongs to a polygon when its centre (c + 0.5, r + 0.5) lies
inside it. Overlaps are resolved by `annotations.formats.instances.OverlapRule`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from scipy import ndimage
from shapely.geometry import mapping, shape

from annotations.formats.instances import CellObject
from annotations.masks import MaskError

OBJECT_TYPES = ("detection", "annotation")
DEFAULT_CLASS = "Cell"
CLASS_COLOR = [230, 60, 60]
COORDINATE_DECIMALS = 3


# --- Export -----------------------------------------------------------------------------------


def cell_geometry(cell: np.ndarray, row0: int = 0, col0: int = 0) -> shapely.Geometry:
    """The exact pixel-edge outline of a boolean cell mask whose top-left pixel is (row0, col0)."""
    edges = np.diff(np.pad(cell.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    boxes = shapely.box(starts + col0, rows + row0, ends + col0, rows + 1 + row0)
    return shapely.simplify(shapely.union_all(boxes), 0)


def label_geometries(labels: np.ndarray, *, tolerance: float = 0.0) -> Iterable[tuple[int, shapely.Geometry]]:
    """(cell id, outline) for every cell of a label image, in id order."""
    for index, region in enumerate(ndimage.find_objects(labels), start=1):
        if region is None:
            continue
        outline = cell_geometry(labels[region] == index, region[0].start, region[1].start)
        if tolerance > 0:
            outline = outline.simplify(tolerance, preserve_topology=True)
        yield index, outline


def _feature(cell_id: int, outline: shapely.Geometry, object_type: str, class_name: str) -> dict[str, Any]:
    geometry = mapping(shapely.set_precision(outline, 10**-COORDINATE_DECIMALS))
    return {
        "type": "Feature",
        "geometry": json.loads(json.dumps(geometry)),  # tuples -> lists, as JSON has them
        "properties": {
            "objectType": object_type,
            "classification": {"name": class_name, "color": CLASS_COLOR},
            "isLocked": False,
            "measurements": {"Cell id": cell_id},
        },
    }


def label_features(labels: np.ndarray, *, object_type: str = "detection", class_name: str = DEFAULT_CLASS,
                   tolerance: float = 0.0) -> dict[str, Any]:
    """A FeatureCollection with one polygon per cell of `labels`."""
    if object_type not in OBJECT_TYPES:
        raise ValueError(f"objectType must be one of {', '.join(OBJECT_TYPES)}, got {object_type!r}")
    features = [_feature(i, g, object_type, class_name) for i, g in label_geometries(labels, tolerance=tolerance)]
    return {"type": "FeatureCollection", "features": features}


# --- Import -----------------------------------------------------------------------------------


def load_features(path: Path, *, name: str | None = None) -> list[dict[str, Any]]:
    """The Features of a GeoJSON file, refusing anything that is not GeoJSON features."""
    name = name or path.name
    try:
        data = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # nested past the stack
        raise MaskError(f"{name}: not a readable GeoJSON file ({exc})") from None
    return features_of(data, name=name)


def features_of(data: Any, *, name: str) -> list[dict[str, Any]]:
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        data = data.get("features")
    elif isinstance(data, dict) and data.get("type") == "Feature":
        data = [data]
    if not isinstance(data, list) or not all(isinstance(f, dict) and f.get("type") == "Feature" for f in data):
        raise MaskError(f"{name}: expected a GeoJSON FeatureCollection (or a list of Features)")
    return data


def feature_geometry(feature: dict[str, Any], *, what: str, name: str) -> shapely.Geometry:
    """A feature's polygonal geometry, repaired if its rings cross themselves."""
    try:
        geometry = shape(feature.get("geometry"))
    except (AttributeError, TypeError, ValueError, KeyError, IndexError, shapely.errors.ShapelyError) as exc:
        raise MaskError(f"{name}: {what} has no readable geometry ({exc or type(exc).__name__})") from None
    if geometry.geom_type not in ("Polygon", "MultiPolygon"):
        raise MaskError(f"{name}: {what} is a {geometry.geom_type}; cells must be Polygon or MultiPolygon")
    if not geometry.is_valid:
        geometry = _polygonal(shapely.make_valid(geometry))
    return geometry


def _polygonal(geometry: shapely.Geometry) -> shapely.Geometry:
    parts = [g for g in shapely.get_parts(geometry) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def rasterize(geometry: shapely.Geometry, shape_hw: tuple[int, int], *, what: str) -> CellObject:
    """The pixels whose centres lie inside `geometry`, clipped to the image."""
    height, width = shape_hw
    if geometry.is_empty:
        return CellObject(what, 0, 0, np.zeros((0, 0), dtype=bool))
    minx, miny, maxx, maxy = geometry.bounds
    c0, c1 = max(0, math.ceil(minx - 0.5)), min(width - 1, math.floor(maxx - 0.5))
    r0, r1 = max(0, math.ceil(miny - 0.5)), min(height - 1, math.floor(maxy - 0.5))
    if c1 < c0 or r1 < r0:
        return CellObject(what, 0, 0, np.zeros((0, 0), dtype=bool))
    xs, ys = np.meshgrid(np.arange(c0, c1 + 1) + 0.5, np.arange(r0, r1 + 1) + 0.5)
    shapely.prepare(geometry)
    return CellObject(what, r0, c0, shapely.contains_xy(geometry, xs, ys))


def _outside(geometry: shapely.Geometry, shape_hw: tuple[int, int]) -> bool:
    height, width = shape_hw
    return not geometry.intersects(shapely.box(0, 0, width, height))


def read_objects(features: list[dict[str, Any]], shape_hw: tuple[int, int], *, name: str,
                 object_type: str | None = None) -> list[CellObject]:
    """The cells of a feature list, rasterised on an image of `shape_hw` (height, width).

    `object_type` keeps only features of that QuPath objectType (e.g. "detection", to leave out
    the region annotation a detection was run in). A feature entirely outside the image is
    refused: it usually means the file belongs to another image."""
    objects = []
    for index, feature in enumerate(features, start=1):
        if object_type and (feature.get("properties") or {}).get("objectType") != object_type:
            continue
        what = f"feature {index}"
        geometry = feature_geometry(feature, what=what, name=name)
        if not geometry.is_empty and _outside(geometry, shape_hw):
            minx, miny, maxx, maxy = (round(v, 1) for v in geometry.bounds)
            raise MaskError(f"{name}: {what} lies outside the {shape_hw[1]}x{shape_hw[0]} image "
                            f"(x {minx}..{maxx}, y {miny}..{maxy}); is this the right image?")
        objects.append(rasterize(geometry, shape_hw, what=what))
    return objects
