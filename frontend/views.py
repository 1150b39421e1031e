"""The pages: project list, the labelling page (the editor), and the project admin pages.

Views only find the project (404 outside the user's projects, 403 for labellers on admin pages),
read what the page shows, and render. Pages whose scripts call the API set the CSRF cookie.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from active_learning import reports
from active_learning.versions import active_version
from annotations import selectors
from annotations.errors import NotFound
from annotations.models import CropStatus, Project
from annotations.permissions import is_project_admin
from frontend import selectors as pages
from frontend.charts import learning_curve_chart


def _member_project(request: HttpRequest, project_id: int) -> Project:
    try:
        return selectors.project_for(request.user, project_id)
    except NotFound as exc:
        raise Http404(str(exc)) from None


def _admin_project(request: HttpRequest, project_id: int) -> Project:
    project = _member_project(request, project_id)
    if not is_project_admin(request.user, project):
        raise PermissionDenied("Only an admin of this project can see this page.")
    return project


def _admin_page(request: HttpRequest, project: Project, template: str, tab: str, **context: Any) -> HttpResponse:
    return render(request, f"frontend/admin/{template}", {"project": project, "tab": tab, **context})


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/projects.html", {"cards": pages.project_cards(request.user)})


@login_required
@ensure_csrf_cookie
def label(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _member_project(request, project_id)
    context = {"project": project, "is_admin": is_project_admin(request.user, project)}
    return render(request, "frontend/label.html", context)


@login_required
def overview(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    report = reports.project_overview(project)
    version = active_version(project)
    active = report["active_version"]
    return _admin_page(
        request, project, "overview.html", "overview",
        report=report,
        statuses=CropStatus.labels,
        status_rows=pages.status_table(report["crops"]),
        chart=learning_curve_chart(report["learning_curve"], active["id"] if active else None),
        payoff=pages.payoff_rows(report["active_learning_payoff"]),
        payoff_summary=pages.payoff_summary(report["active_learning_payoff"]),
        weakest=pages.weakest_crops(version.pk, reports.weakest_crops(version)) if version else [],
    )


@login_required
@ensure_csrf_cookie
def queue(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    return _admin_page(request, project, "queue.html", "queue", page=pages.queue_page_data(project))


@login_required
@ensure_csrf_cookie
def training(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    return _admin_page(request, project, "training.html", "training")


@login_required
@ensure_csrf_cookie
def upload(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    return _admin_page(request, project, "upload.html", "upload")


@login_required
def labellers(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    rows = pages.labeller_rows(project, reports.labeller_stats(project))
    return _admin_page(request, project, "labellers.html", "labellers", rows=rows)
