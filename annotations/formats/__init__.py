"""File formats microscopy tools read and write: label images in and out of labelserver.

Each module converts between files and arrays only (no database): `exports.py` and
`imports.py` in the annotations app do the project work around them.

* `cellpose_folder`: Cellpose training folders (<name>_img + <name>_masks) and image/label pairs.
* `label_tiff`: 16/32-bit label TIFFs.
* `coco`: COCO instance segmentation JSON (RLE masks).
* `geojson`: QuPath-style GeoJSON cell polygons.
* `instances`: painting overlapping objects into one label image, by a stated rule.
* `stitching`: crops' annotations back into one label image per image.
* `filters`: which annotations an export takes.
"""

EXPORT_FORMATS = ("cellpose", "tiff", "coco", "geojson")
