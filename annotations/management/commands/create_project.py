"""python manage.py create_project NAME [--description TEXT] [--crop-size N] [--crop-overlap N]
[--channels C,...] [--display-channels C,...] [--strategy NAME] [--start-from scratch|pretrained:<name>]
[--admin USERNAME]

Creates a project as POST /api/projects/ does: the options are read with the API's input
serializer and the project is made by annotations.projects.create_project, so the same rules hold
(every problem named at once); the admin (--admin, or the only superuser) becomes its first admin.
Prints the new project's id. Weights of one's own are uploaded to the project afterwards
(POST /api/projects/{id}/model-versions/ with promote, or the web's New project page).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.api.serializers import ProjectSettingsInput
from annotations.management.commands.import_images import find_user
from annotations.projects import InvalidSettings, create_project

# option -> ProjectSettingsInput field
OPTIONS = {"description": "description", "crop_size": "crop_size", "crop_overlap": "crop_overlap",
           "channels": "model_channels", "display_channels": "display_channels", "strategy": "strategy"}


def _channels(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _problems(errors: dict[str, Any]) -> list[str]:
    return [f"{name}: {message}" for name, messages in errors.items() for message in _flat(messages)]


def _flat(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [m for inner in detail.values() for m in _flat(inner)]
    if isinstance(detail, list):
        return [m for inner in detail for m in _flat(inner)]
    return [str(detail)]


class Command(BaseCommand):
    help = "Create a project (the API's validation); its admin becomes its first member. Prints its id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the project's name (unique)")
        parser.add_argument("--description", default=None)
        parser.add_argument("--crop-size", default=None, help="crop side in pixels (default 256)")
        parser.add_argument("--crop-overlap", default=None, help="pixels neighbouring crops share")
        parser.add_argument("--channels", default=None,
                            help="model channels: empty (grey), one index, or two (cytoplasm,nucleus), e.g. 1,0")
        parser.add_argument("--display-channels", default=None, help="channels labellers see, e.g. 0,1,2")
        parser.add_argument("--strategy", default=None, help="what ranks the queue (a strategy's name)")
        parser.add_argument("--start-from", default=None,
                            help="the first model: scratch (default) or pretrained:<name>, e.g. pretrained:nuclei")
        parser.add_argument("--admin", default=None,
                            help="username of the project's first admin (default: the only superuser)")

    def handle(self, *args: Any, **options: Any) -> None:
        admin = find_user(options["admin"]) if options["admin"] else self._only_superuser()
        data: dict[str, Any] = {"name": options["name"]}
        for option, field in OPTIONS.items():
            if options[option] is not None:
                value = options[option]
                data[field] = _channels(value) if field.endswith("channels") else value
        if options["start_from"] is not None:
            data["backend_settings"] = {"start_from": options["start_from"]}
        serializer = ProjectSettingsInput(data=data)
        if not serializer.is_valid():
            raise CommandError("the project was not created:\n  " + "\n  ".join(_problems(serializer.errors)))
        try:
            project = create_project(creator=admin, **serializer.validated_data)
        except InvalidSettings as exc:
            raise CommandError("the project was not created:\n  " + "\n  ".join(_problems(exc.problems))) from None
        if options["verbosity"] >= 1:  # for people; stdout holds only the id, for scripts
            self.stderr.write(f"Created project {project.name!r}; {admin.get_username()} is its admin.")
        self.stdout.write(str(project.pk))

    def _only_superuser(self) -> Any:
        superusers = list(get_user_model().objects.filter(is_superuser=True, is_active=True)[:2])
        if len(superusers) != 1:
            raise CommandError("name the project's admin with --admin USERNAME (there is not exactly one superuser)")
        return superusers[0]
