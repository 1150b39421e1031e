"""The pages: project list, the labelling page (the editor), and the project admin pages.

Views only find the project (404 outside the user's projects, 403 for labellers on admin pages),
read what the page shows, and render. Pages whose scripts call the API set the CSRF cookie. The
settings page posts HTML forms (CSRF-checked by the middleware): each is read with the API's input
serializer (frontend.forms), handed to the service the API calls, and answered with a redirect
and a message, or with the page again showing what was typed and what is wrong with it.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods, require_POST

from active_learning import reports, services
from active_learning.models import TRANSFER_JOB_KINDS, JobKind, ModelVersion
from active_learning.performance_report import performance_report
from active_learning.project_settings import settings_choices
from active_learning.versions import active_version
from annotations import projects, selectors
from annotations.api.serializers import MemberInput, MemberRoleInput
from annotations.formats import EXPORT_FORMATS
from annotations.models import Crop, CropStatus, Membership, Project, ReviewState, Role, Split
from annotations.permissions import is_project_admin, is_project_reviewer
from frontend import forms, report_pages
from frontend import selectors as pages
from frontend.charts import learning_curve_chart
from frontend.report_pdf import report_pdf
from labelserver.errors import DomainError, NotFound


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


def may_create_projects(user: Any) -> bool:
    """Staff, or everyone signed in when LABELSERVER["PROJECT_CREATORS"] is "users"."""
    return bool(user.is_authenticated and (user.is_staff or settings.LABELSERVER["PROJECT_CREATORS"] == "users"))


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    cards = pages.project_cards(request.user)
    return render(request, "frontend/projects.html", {"cards": cards, "can_create": may_create_projects(request.user),
                                                      "reviewable": _reviewable(request, cards)})


@login_required
@ensure_csrf_cookie
def label(request: HttpRequest, project_id: int) -> HttpResponse:
    """The editor; with ?review=<order> (reviewers) its review mode, opening ?annotation=<id> first."""
    project = _member_project(request, project_id)
    may_review = is_project_reviewer(_signed_in(request), project)
    context = {"project": project, "is_admin": is_project_admin(request.user, project), "may_review": may_review}
    if "review" in request.GET:
        context.update(_review_mode(request, project, may_review=may_review))
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
    # Its job list is the model's jobs: uploads and exports have their own pages.
    model_job_kinds = [kind for kind in JobKind.values if kind not in TRANSFER_JOB_KINDS]
    return _admin_page(request, project, "training.html", "training", model_job_kinds=",".join(model_job_kinds))


@login_required
@ensure_csrf_cookie
def upload(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    return _admin_page(request, project, "upload.html", "upload")


# What each export format writes (annotations/exports.py, docs/formats.md), for the Export page.
EXPORT_FORMAT_WORDS = {
    "cellpose": "image and label image pairs, per crop and per whole image, as Cellpose trains on them",
    "tiff": "the original images with a 16- or 32-bit label TIFF each",
    "coco": "one COCO annotations.json (RLE masks) with the images",
    "geojson": "cell outlines, one GeoJSON file per image (QuPath)",
}


@login_required
@ensure_csrf_cookie
def export(request: HttpRequest, project_id: int) -> HttpResponse:
    """Start an export job and download the project's recent exports (the page calls the API)."""
    project = _admin_project(request, project_id)
    formats = [(name, EXPORT_FORMAT_WORDS.get(name, "")) for name in EXPORT_FORMATS]
    return _admin_page(request, project, "export.html", "export", formats=formats, splits=Split.choices,
                       active_version=active_version(project))


@login_required
def labellers(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    rows = pages.labeller_rows(project, reports.labeller_stats(project))
    return _admin_page(request, project, "labellers.html", "labellers", rows=rows)


# --- A new project --------------------------------------------------------------------------------


def _new_project_page(request: HttpRequest, *, values: dict[str, str] | None = None,
                      problems: forms.Problems | None = None, status: int = 200) -> HttpResponse:
    defaults = Project()
    choices = settings_choices(defaults)
    shown = {**forms.settings_text(defaults), "name": "", "start": "scratch", "pretrained": "",
             **(values or {})}
    if shown["strategy"] not in choices["strategies"]:  # posted by hand: shown as posted, beside its problem
        choices["strategies"].append(shown["strategy"])
    response = render(request, "frontend/new_project.html", {
        "values": shown, "problems": problems or {}, "strategies": choices["strategies"],
        "pretrained_models": choices["pretrained_models"]})
    response.status_code = status
    return response


@login_required
@require_http_methods(["GET", "POST"])
def new_project(request: HttpRequest) -> HttpResponse:
    """Start a project: created by annotations.projects.create_project (the API's rules, every problem
    named beside its field; the creator becomes its admin), then on to its Upload page. Uploaded
    start weights become its first, active model version (active_learning.services.upload_weights,
    as POST /api/projects/{id}/model-versions/ with promote), in the same transaction: refused
    weights leave no project behind."""
    creator = request.user
    if not isinstance(creator, AbstractBaseUser) or not may_create_projects(creator):
        raise PermissionDenied("Only staff can start a project here; ask an administrator.")
    if request.method != "POST":
        return _new_project_page(request)
    weights = request.FILES.get("weights") if request.POST.get("start") == "weights" else None
    fields, problems = forms.parse_new_project(request.POST, weights)
    try:
        if problems:  # nothing is created; the services name what else is wrong
            projects.check_project_changes(Project(), fields)
        else:
            with transaction.atomic():
                project = projects.create_project(creator=creator, **fields)
                if weights is not None:
                    try:
                        services.upload_weights(project, weights, user=creator, promote=True)
                    except DomainError as exc:
                        raise projects.InvalidSettings({"weights": exc}) from None
    except projects.InvalidSettings as exc:
        problems = {**exc.problems, **problems}
    except DomainError as exc:
        problems = {**problems, "general": [str(exc)]}
    if problems:
        return _new_project_page(request, values=request.POST.dict(), problems=problems, status=400)
    messages.success(request, f"Project {project.name!r} created; you are its admin. Upload its images next.")
    return redirect("project-upload", project.pk)


# --- Settings and members -------------------------------------------------------------------------


def _settings_page(request: HttpRequest, project: Project, *, values: dict[str, str] | None = None,
                   problems: forms.Problems | None = None, member: dict[str, Any] | None = None,
                   status: int = 200) -> HttpResponse:
    """The settings page; after a refused form, with what was typed and what is wrong with it."""
    page = pages.settings_page_data(project)
    shown = forms.settings_text(project)
    if values:
        locked = forms.CUTTING_FIELDS if page["n_crops"] else ()
        shown.update({name: text for name, text in values.items() if name in shown and name not in locked})
    if shown["strategy"] not in page["strategies"]:  # posted by hand: shown as posted, beside its problem
        page["strategies"].append(shown["strategy"])
    member = member or {}
    add_role = member.get("role") if member.get("form") == "add" else Role.LABELLER
    response = _admin_page(request, project, "settings.html", "settings", page=page, values=shown,
                           problems=problems or {}, member=member, add_role=add_role,
                           members=_member_rows(page["members"], member))
    response.status_code = status
    return response


def _member_rows(memberships: list[Membership], member: dict[str, Any]) -> list[dict[str, Any]]:
    """Each member with the role to show: on the row whose change was refused, the role chosen."""
    rows = []
    for m in memberships:
        refused = member.get("form") == "row" and member.get("user_id") == m.user_id
        rows.append({"user_id": m.user_id, "username": m.user.username, "role": m.role,
                     "chosen": member.get("role") or m.role if refused else m.role,
                     "problems": member.get("problems", []) if refused else []})
    return rows


def _editable_fields(project: Project) -> tuple[str, ...]:
    locked = forms.CUTTING_FIELDS if Crop.objects.filter(project=project).exists() else ()
    return tuple(name for name in forms.SETTINGS_FIELDS if name not in locked)


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    if request.method != "POST":
        return _settings_page(request, project)
    changes, problems = forms.parse_settings(request.POST, _editable_fields(project))
    requeued = projects.queue_setting_changes(project, changes)
    try:
        if problems:  # nothing is saved; the services name what else is wrong
            projects.check_project_changes(project, changes)
        else:
            projects.update_project(project=project, **changes)
    except projects.InvalidSettings as exc:
        problems = {**exc.problems, **problems}
    except DomainError as exc:
        problems = {**problems, "general": [str(exc)]}
    if problems:
        return _settings_page(request, project, values=request.POST.dict(), problems=problems, status=400)
    messages.success(request, "Settings saved." + (
        f" The queue was re-ranked with {project.strategy} and a random control share of "
        f"{project.random_fraction:g}." if requeued else ""))
    return redirect("project-settings", project.pk)


def _member_done(request: HttpRequest, project: Project, message: str) -> HttpResponse:
    """Back to the members list, or to the project list when the user is no longer an admin here."""
    messages.success(request, message)
    if request.user.is_staff or selectors.role_in(request.user, project) == Role.ADMIN:
        return redirect(reverse("project-settings", args=[project.pk]) + "#members")
    return redirect("projects")


def _member_refused(request: HttpRequest, project: Project, member: dict[str, Any], exc: DomainError,
                    ) -> HttpResponse:
    if exc.code == "not_found":  # no row to show it in (removed meanwhile): above the list
        member = {**member, "form": "members"}
    status = exc.http_status if 400 <= exc.http_status < 500 else 400
    return _settings_page(request, project, member={**member, "problems": [str(exc)]}, status=status)


@login_required
@require_POST
def add_member(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _admin_project(request, project_id)
    typed = {"username": request.POST.get("username", "").strip(), "role": request.POST.get("role", "")}
    data, problems = forms.validate(MemberInput, typed)
    member = {"form": "add", **typed}
    if problems:
        return _settings_page(request, project, member={**member, "problems": _flat(problems)}, status=400)
    try:
        membership = projects.add_member(project=project, **data)
    except DomainError as exc:
        return _member_refused(request, project, member, exc)
    return _member_done(request, project, f"{membership.user.username} is now a member ({membership.role}).")


@login_required
@require_POST
def change_member(request: HttpRequest, project_id: int, user_id: int) -> HttpResponse:
    """Change a member's role (action=role, role=...) or remove them (action=remove)."""
    project = _admin_project(request, project_id)
    member = {"form": "row", "user_id": user_id, "role": request.POST.get("role", "")}
    try:
        if request.POST.get("action") == "remove":
            removed = projects.remove_member(project=project, user_id=user_id)
            return _member_done(request, project, f"{removed.user.username} is no longer a member; their crops "
                                                  "in progress went back to the queue.")
        data, problems = forms.validate(MemberRoleInput, {"role": member["role"]})
        if problems:
            return _settings_page(request, project, member={**member, "problems": _flat(problems)}, status=400)
        membership = projects.set_member_role(project=project, user_id=user_id, **data)
    except DomainError as exc:
        return _member_refused(request, project, member, exc)
    return _member_done(request, project, f"{membership.user.username} is now {membership.role}.")


def _flat(problems: forms.Problems) -> list[str]:
    return [f"{name}: {sentence}" for name, sentences in problems.items() for sentence in sentences]


# --- Review ----------------------------------------------------------------------------------------


def _signed_in(request: HttpRequest) -> AbstractBaseUser:
    return cast(AbstractBaseUser, request.user)  # the views are login_required


def _reviewer_project(request: HttpRequest, project_id: int) -> Project:
    project = _member_project(request, project_id)
    if not is_project_reviewer(_signed_in(request), project):
        raise PermissionDenied("Only a reviewer or admin of this project can review.")
    return project


def _reviewable(request: HttpRequest, cards: list[pages.ProjectCard]) -> set[int]:
    """The listed projects the user may review (the cards' projects carry the user's role)."""
    return {card.project.pk for card in cards if is_project_reviewer(_signed_in(request), card.project)}


def _review_mode(request: HttpRequest, project: Project, *, may_review: bool) -> dict[str, Any]:
    """The editor's review mode: the queue order, and the annotation a link asks to open first."""
    if not may_review:
        raise PermissionDenied("Only a reviewer or admin of this project can review.")
    mode: dict[str, Any] = {"review_order": request.GET.get("review") or "newest"}
    wanted = request.GET.get("annotation", "")
    if wanted:
        missing = Http404("No such annotation in this project.")
        if not (wanted.isascii() and wanted.isdigit() and len(wanted) <= 18):  # an id the database can hold
            raise missing
        try:
            annotation = selectors.annotation_for(_signed_in(request), int(wanted))
        except NotFound:
            raise missing from None
        if annotation.crop.project_id != project.pk:
            raise missing
        mode["first_annotation"] = annotation
    return mode


@login_required
@ensure_csrf_cookie
def review(request: HttpRequest, project_id: int) -> HttpResponse:
    """The review queue (read by its script from GET /api/projects/{id}/reviews/), each row opening
    the editor's review mode. Reviewers who are not admins see no admin tabs."""
    project = _reviewer_project(request, project_id)
    return _admin_page(request, project, "review.html", "review", states=ReviewState.choices,
                       reviewer_only=not is_project_admin(_signed_in(request), project))


# --- A model version's performance report ----------------------------------------------------------


def _project_version(request: HttpRequest, project_id: int, version_id: int) -> tuple[Project, ModelVersion]:
    project = _admin_project(request, project_id)
    version = ModelVersion.objects.filter(project=project, pk=version_id).select_related("parent").first()
    if version is None:
        raise Http404("No such model version in this project.")
    return project, version


def _performance(version: ModelVersion, pattern: str | None) -> tuple[dict[str, Any], str]:
    """The report grouped by `pattern`, or by the default one with the reason `pattern` was refused."""
    try:
        return performance_report(version, pattern=pattern), ""
    except ValueError as exc:
        return performance_report(version), f"Grouped by the default pattern instead: {exc}."


@login_required
@ensure_csrf_cookie
def version_report(request: HttpRequest, project_id: int, version_id: int) -> HttpResponse:
    """The version's performance report; its "where labelling should go next" buttons call the
    queue API (admin/report.js)."""
    project, version = _project_version(request, project_id, version_id)
    pattern = request.GET.get("pattern", "")
    report, problem = _performance(version, pattern)
    response = _admin_page(request, project, "report.html", "training", report=report, version=version,
                           pattern=pattern, pattern_problem=problem, page=report_pages.page_data(project, report))
    response.status_code = 400 if problem else 200
    return response


@login_required
def version_report_pdf(request: HttpRequest, project_id: int, version_id: int) -> HttpResponse:
    """The same report as a PDF, to keep or send."""
    project, version = _project_version(request, project_id, version_id)
    report, _ = _performance(version, request.GET.get("pattern", ""))
    response = HttpResponse(report_pdf(project, report), content_type="application/pdf")
    name = f"{project.name}-v{version.number}-report.pdf".replace('"', "")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- Sweeps ---------------------------------------------------------------------------------------


@login_required
@ensure_csrf_cookie
def sweeps(request: HttpRequest, project_id: int) -> HttpResponse:
    """Settings searches and subsample studies: the page draws them from the sweeps API (admin/sweeps.js)."""
    project = _admin_project(request, project_id)
    return _admin_page(request, project, "sweeps.html", "sweeps")
