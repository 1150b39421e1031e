"""Projects and their members: creating a project, changing its settings (all or nothing, every
broken rule named at once), adding members, changing roles, removing members.

The rules a project's settings must keep come from two sides: this module checks its own fields
(crop cutting, a unique name); the learning side registers checks for the fields it interprets
(model backend settings, strategy) with `register_settings_check`, so labelling never imports it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotations.leases import status_after_release
from annotations.models import Crop, Membership, Project, Role
from annotations.signals import queue_settings_changed
from labelserver.errors import Conflict, DomainError


class InvalidSettings(DomainError):
    """Project settings that break rules, each problem filed under the field it concerns (a form
    shows them beside their fields; the API's detail names them all). One problem alone keeps its
    own code and status: an unknown strategy is 400 `unknown_strategy`, a taken name 409."""

    def __init__(self, errors: dict[str, DomainError]) -> None:
        self.errors = errors
        only = next(iter(errors.values())) if len(errors) == 1 else None
        super().__init__(
            "; ".join(str(error) for error in errors.values()),
            code=only.code if only else "invalid_settings",
            http_status=only.http_status if only else 400,
        )

    @property
    def problems(self) -> dict[str, list[str]]:
        """Messages by field; bad backend settings give one message per bad setting."""
        return {name: list(getattr(error, "problems", [str(error)])) for name, error in self.errors.items()}


# Settings that decide the queue order: changing them re-ranks the queue.
QUEUE_SETTINGS = ("strategy", "random_fraction")


# A check of the fields one side interprets: (candidate project, the queue settings being set) ->
# problems by field name. The learning side registers its own (active_learning/project_settings.py).
SettingsCheck = Callable[[Project, frozenset[str]], dict[str, DomainError]]
_SETTINGS_CHECKS: dict[str, SettingsCheck] = {}


def register_settings_check(check: SettingsCheck) -> SettingsCheck:
    """Add a rule every project's settings must keep (idempotent: keyed by the check's name)."""
    _SETTINGS_CHECKS[f"{check.__module__}.{check.__qualname__}"] = check
    return check


def _check_project(project: Project, *, queue_settings: Iterable[str] = QUEUE_SETTINGS) -> None:
    """Refuse settings that break a rule, naming every problem at once (InvalidSettings).
    `queue_settings`: which of the strategy and random fraction to check (those being set)."""
    errors: dict[str, DomainError] = {}
    for check in _SETTINGS_CHECKS.values():
        errors.update(check(project, frozenset(queue_settings)))
    if project.crop_overlap >= project.crop_size:
        message = f"crop_overlap ({project.crop_overlap}) must be smaller than crop_size ({project.crop_size})"
        errors["crop_overlap"] = DomainError(message)
    if Project.objects.filter(name=project.name).exclude(pk=project.pk).exists():
        errors["name"] = Conflict(f"a project named {project.name!r} already exists")
    if errors:
        raise InvalidSettings(errors)


@transaction.atomic
def create_project(*, name: str, creator: AbstractBaseUser, **fields: Any) -> Project:
    """Create a project; its creator becomes its first admin."""
    project = Project(name=name, **fields)
    _check_project(project)
    project.save()
    Membership.objects.create(project=project, user=creator, role=Role.ADMIN)
    return project


def queue_setting_changes(project: Project, changes: dict[str, Any]) -> dict[str, Any]:
    """The strategy and random fraction among `changes` that differ from the project's."""
    return {name: changes[name] for name in QUEUE_SETTINGS
            if name in changes and changes[name] != getattr(project, name)}


def check_project_changes(project: Project, changes: dict[str, Any]) -> None:
    """Raise InvalidSettings naming every rule `changes` would break; changes nothing (`project`
    included). A strategy or random fraction is checked when it changes, so a project left with a
    strategy that no longer exists can still be renamed."""
    candidate = copy.copy(project)
    for name, value in changes.items():
        setattr(candidate, name, value)
    _check_project(candidate, queue_settings=queue_setting_changes(project, changes))


def update_project(*, project: Project, **changes: Any) -> Project:
    """Change a project's settings, all or nothing. crop_size and crop_overlap apply to images
    ingested later. A new strategy or random fraction re-ranks the queue (the learning side
    listens to `queue_settings_changed`), as the queue settings endpoint does."""
    requeue = queue_setting_changes(project, changes)
    check_project_changes(project, changes)
    for name, value in changes.items():
        setattr(project, name, value)
    project.save(update_fields=list(changes) or None)
    if requeue:
        queue_settings_changed.send(sender=Project, project=project, changes=requeue)
    return project


def _membership(project: Project, user_id: int) -> Membership:
    membership = Membership.objects.filter(project=project, user_id=user_id).select_related("user").first()
    if membership is None:
        raise DomainError(f"user {user_id} is not a member of this project", code="not_found", http_status=404)
    return membership


def _keep_an_admin(membership: Membership) -> None:
    """Refuse to take away the project's last admin. The admins' rows are locked (PostgreSQL), so
    two admins demoting each other at once cannot both pass; called inside a transaction."""
    if membership.role != Role.ADMIN:
        return
    admins = Membership.objects.select_for_update().filter(project=membership.project_id, role=Role.ADMIN)
    if not any(pk != membership.pk for pk in admins.order_by("pk").values_list("pk", flat=True)):
        raise Conflict("a project needs at least one admin; make someone else admin first")


def add_member(*, project: Project, username: str, role: str = Role.LABELLER) -> Membership:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise DomainError(f"there is no user named {username!r}", code="unknown_user")
    membership, created = Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
    if not created:
        raise Conflict(f"{username} is already a member ({membership.role}); change the role instead")
    return membership


@transaction.atomic
def set_member_role(*, project: Project, user_id: int, role: str) -> Membership:
    membership = _membership(project, user_id)
    if role != Role.ADMIN:
        _keep_an_admin(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(*, project: Project, user_id: int) -> Membership:
    """Remove a member; their leases in the project return to the queue, their assignments lapse.
    Returns the membership as it was."""
    membership = _membership(project, user_id)
    _keep_an_admin(membership)
    crops = Crop.objects.filter(project=project)
    crops.filter(leased_by_id=user_id).update(status=status_after_release(), leased_by=None, lease_expires_at=None)
    crops.filter(assigned_to_id=user_id).update(assigned_to=None)
    membership.delete()
    return membership
