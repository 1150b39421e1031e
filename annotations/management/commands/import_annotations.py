"""python manage.py import_annotations PROJECT PATH --format cellpose|tiff|coco|geojson [--mode predictions]

Imports label images, a COCO file or GeoJSON polygons (a folder, a zip, or one file) as labelled
crops or as predictions to correct; all or nothing (annotations/imports.py). Overlapping objects:
--overlap smaller_wins (default) or reject.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from annotations.imports import import_annotations, parse_import_options
from annotations.management.commands.import_images import _bar_stream, find_project
from labelserver.errors import DomainError


class Command(BaseCommand):
    help = "Import annotations (label images, COCO, GeoJSON) into a project as labels or predictions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="project name (or id)")
        parser.add_argument("path", type=Path, help="a folder, a zip, or one .json/.geojson file")
        parser.add_argument("--format", required=True, choices=["cellpose", "tiff", "coco", "geojson"])
        parser.add_argument("--mode", default="labels", choices=["labels", "predictions"])
        parser.add_argument("--overlap", default="smaller_wins", choices=["smaller_wins", "reject"])
        parser.add_argument("--object-type", default=None, help="GeoJSON: only features of this objectType")
        parser.add_argument("--user", default=None, help="username recorded as uploader and label author")

    def handle(self, *args: Any, **options: Any) -> None:
        project = find_project(options["project"])
        user = _user(options["user"])
        params = {k: options[k] for k in ("format", "mode", "overlap")} | {"object_type": options["object_type"]}
        try:
            report = self._import(project, options["path"], parse_import_options(params), user)
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

    def _import(self, project: Any, path: Path, options: Any, user: Any) -> Any:
        with tqdm(desc=f"Importing into {project.name}", unit="image", file=_bar_stream(self.stderr),
                  disable=None) as bar:
            def progress(done: int, total: int, what: str) -> None:
                bar.total = total
                bar.set_postfix_str(what[-40:], refresh=False)
                bar.update(done - bar.n)

            return import_annotations(project, path, options, user=user, progress=progress)


def _user(username: str | None) -> Any:
    if username is None:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no user named {username!r}")
    return user
