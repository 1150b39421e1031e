"""python manage.py export_project PROJECT OUT.zip --format cellpose,tiff,coco,geojson [filters] [--model active|N]

Writes the project's annotations (and optionally a model version's weights) as one zip; see
annotations/exports.py for the layout and docs/formats.md for the formats. Filters: --split,
--tag, --since, --until, --reviewed, --source, --review-state, --all-versions (newest version in the date range
instead of current versions only). The options are checked as the API checks them
(annotations.api.export_serializers). Here, not in annotations, because of --model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from tqdm import tqdm

from active_learning.model_transfer import export_zip
from annotations.api.export_serializers import export_options
from annotations.exports import WHOLE_IMAGES, ProgressCallback
from annotations.formats import geojson
from annotations.management.commands.import_images import _bar_stream, find_project
from annotations.models import Split
from labelserver.errors import DomainError


class Command(BaseCommand):
    help = "Export a project's annotations (Cellpose folder, label TIFF, COCO, GeoJSON) and model weights as a zip."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="project name (or id)")
        parser.add_argument("output", type=Path, help="the zip file to write")
        parser.add_argument("--format", default="", help="comma-separated: cellpose, tiff, coco, geojson")
        parser.add_argument("--model", default=None, help="add a model version's weights: 'active' or its number")
        parser.add_argument("--split", default=None, choices=Split.values)
        parser.add_argument("--tag", default=None, help="only crops with this tag")
        parser.add_argument("--since", default=None, help="annotations saved on or after (2025-03-01[T14:30])")
        parser.add_argument("--until", default=None, help="annotations saved on or before (a date: the whole day)")
        parser.add_argument("--reviewed", action="store_true", help="only annotations saved in the labelling tool")
        parser.add_argument("--source", default=None, help="comma-separated sources: editor, import, simulation")
        parser.add_argument("--review-state", default=None,
                            help="comma-separated review states: submitted, accepted, corrected, returned")
        parser.add_argument("--all-versions", action="store_true",
                            help="each crop's newest version that passes the filters, not only current ones")
        parser.add_argument("--whole-images", default="complete", choices=WHOLE_IMAGES)
        parser.add_argument("--no-images", action="store_true", help="leave the original image files out")
        parser.add_argument("--image-format", default="tif", choices=["tif", "png"], help="Cellpose pairs")
        parser.add_argument("--object-type", default="detection", choices=geojson.OBJECT_TYPES)
        parser.add_argument("--tolerance", default=0.0, type=float, help="GeoJSON simplification (pixels)")

    def handle(self, *args: Any, **options: Any) -> None:
        project = find_project(options["project"])
        output: Path = options["output"]
        if not output.parent.is_dir():
            raise CommandError(f"{output.parent} is not a directory")
        try:
            manifest = self._export(project, output, options)
        except DomainError as exc:
            output.unlink(missing_ok=True)
            raise CommandError(str(exc)) from None
        counts = manifest["counts"]
        model = manifest["model_version"]
        self.stdout.write(
            f"Wrote {output}: {counts['annotations']} annotations of {counts['images']} image(s), "
            f"{counts['whole_images']} whole" + (f"; model version {model['number']}" if model else "")
        )

    def _export(self, project: Any, output: Path, options: dict[str, Any]) -> dict[str, Any]:
        # The command's flags in the API's words (--all-versions, --no-images say the opposite).
        params = {
            "format": options["format"], "model": options["model"], "split": options["split"],
            "tag": options["tag"], "since": options["since"], "until": options["until"],
            "reviewed": options["reviewed"], "source": options["source"], "review_state": options["review_state"],
            "current_only": not options["all_versions"], "whole_images": options["whole_images"],
            "images": not options["no_images"], "image_format": options["image_format"],
            "object_type": options["object_type"], "tolerance": options["tolerance"],
        }
        with progress_bar(f"Exporting {project.name}", self.stderr) as progress:
            return export_zip(project, export_options(params), output, progress=progress)


@contextmanager
def progress_bar(description: str, stderr: OutputWrapper) -> Iterator[ProgressCallback]:
    """A tqdm bar on stderr, driven by an export's or import's (done, total, what) reports."""
    with tqdm(desc=description, unit="image", file=_bar_stream(stderr), disable=None) as bar:
        def progress(done: int, total: int, what: str) -> None:
            bar.total = total
            bar.set_postfix_str(what[-40:], refresh=False)
            bar.update(done - bar.n)

        yield progress
