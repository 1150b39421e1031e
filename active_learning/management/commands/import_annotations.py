"""python manage.py import_annotations PROJECT PATH --format cellpose|tiff|coco|geojson [--mode predictions]

Imports label images, a COCO file or GeoJSON polygons (a folder, a zip, or one file) as labelled
crops or as predictions to correct; all or nothing (annotations/imports.py). Overlapping objects:
--overlap smaller_wins (default) or reject. The options are checked as the API checks them
(annotations.api.export_serializers). Here, not in annotations, because of --mode predictions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from active_learning.management.commands.export_project import progress_bar
from active_learning.model_transfer import import_bundle
from annotations.api.export_serializers import import_options
from annotations.formats.instances import OverlapRule
from annotations.imports import IMPORT_FORMATS, ImportMode, ImportOptions, ImportReport
from annotations.management.commands.import_images import find_project, find_user
from labelserver.errors import DomainError


class Command(BaseCommand):
    help = "Import annotations (label images, COCO, GeoJSON) into a project as labels or predictions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="project name (or id)")
        parser.add_argument("path", type=Path, help="a folder, a zip, or one .json/.geojson file")
        parser.add_argument("--format", required=True, choices=IMPORT_FORMATS)
        parser.add_argument("--mode", default=ImportMode.LABELS.value, choices=[m.value for m in ImportMode])
        parser.add_argument("--overlap", default=OverlapRule.SMALLER_WINS.value, choices=[r.value for r in OverlapRule])
        parser.add_argument("--object-type", default=None, help="GeoJSON: only features of this objectType")
        parser.add_argument("--user", default=None, help="username recorded as uploader and label author")

    def handle(self, *args: Any, **options: Any) -> None:
        project = find_project(options["project"])
        user = find_user(options["user"])
        params = {k: options[k] for k in ("format", "mode", "overlap", "object_type")}
        try:
            report = self._import(project, options["path"], import_options(params), user)
        except DomainError as exc:
            raise CommandError(f"nothing was imported: {exc}") from None
        self.stdout.write(
            f"Imported {report.images_created} new and {report.images_existing} existing image(s) into "
            f"{project.name!r}: {report.annotations} annotations, {report.predictions} predictions, "
            f"{report.cells} cells" + (f" (model version {report.model_version})" if report.model_version else "")
        )
        if report.dropped_objects or report.contested_pixels:
            self.stdout.write(f"Overlaps: {report.contested_pixels} contested pixels; dropped: "
                              f"{', '.join(report.dropped_objects[:10]) or 'none'}")

    def _import(self, project: Any, path: Path, options: ImportOptions, user: Any) -> ImportReport:
        with progress_bar(f"Importing into {project.name}", self.stderr) as progress:
            return import_bundle(project, path, options, user=user, progress=progress)

