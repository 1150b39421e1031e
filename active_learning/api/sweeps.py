"""Sweeps over HTTP (project admins): start a settings search or a subsample study, list them,
read one with its trials, cancel, resume, and adopt the best trial's settings."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.base_user import AbstractBaseUser
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from active_learning import selectors, sweeps
from active_learning.api.views import _admin_project, _require_admin
from active_learning.models import Sweep, SweepKind
from active_learning.search_space import DEFAULT_SPACE, PARAMETERS

MAX_SEARCH_KEYS = len(PARAMETERS)


class SweepInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SweepKind.choices, default=SweepKind.SEARCH)
    n_trials = serializers.IntegerField(min_value=1, max_value=sweeps.MAX_TRIALS, required=False,
                                        help_text="Trials of a search (a subsample study runs shares x seeds).")
    parallel = serializers.IntegerField(min_value=1, max_value=sweeps.MAX_PARALLEL, default=1,
                                        help_text="Trial jobs queued at a time (one per free worker runs at once).")
    search_space = serializers.DictField(
        required=False, default=dict,
        help_text="Overrides of the default space, per parameter: {low, high[, log, step]}, {choices: [...]}, "
                  f"{{fixed: value}} or null (the project's setting). Parameters: {', '.join(PARAMETERS)}.",
    )
    fractions = serializers.ListField(child=serializers.FloatField(min_value=0.01, max_value=1.0), required=False,
                                      max_length=20, default=list(sweeps.DEFAULT_FRACTIONS))
    seeds = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=10_000), required=False,
                                  max_length=20, default=list(sweeps.DEFAULT_SEEDS))

    def validate_search_space(self, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_SEARCH_KEYS:
            raise serializers.ValidationError(f"at most {MAX_SEARCH_KEYS} parameters")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["kind"] == SweepKind.SEARCH and "n_trials" not in attrs:
            raise serializers.ValidationError({"n_trials": "a search needs its number of trials"})
        return attrs


class SweepOutput(serializers.ModelSerializer):
    class Meta:
        model = Sweep
        fields = ["id", "project", "kind", "status", "n_trials", "parallel", "n_launched", "search_space", "result",
                  "error", "created_by", "created_at", "finished_at"]
        read_only_fields = fields


class SweepDetailOutput(SweepOutput):
    trials = serializers.SerializerMethodField()
    best_so_far = serializers.SerializerMethodField()
    best_trial = serializers.SerializerMethodField()
    importances = serializers.SerializerMethodField()

    class Meta(SweepOutput.Meta):
        fields = [*SweepOutput.Meta.fields, "trials", "best_so_far", "best_trial", "importances"]
        read_only_fields = fields

    def _trials(self, sweep: Sweep) -> list[dict[str, Any]]:
        if not hasattr(self, "_rows"):
            self._rows = selectors.sweep_trials(sweep)
        return self._rows

    def get_trials(self, sweep: Sweep) -> list[dict[str, Any]]:
        return self._trials(sweep)

    def get_best_so_far(self, sweep: Sweep) -> list[dict[str, Any]]:
        return selectors.best_so_far(self._trials(sweep))

    def get_best_trial(self, sweep: Sweep) -> int | None:
        best = sweeps.best_trial(sweep)
        return best.number if best else None

    def get_importances(self, sweep: Sweep) -> dict[str, float] | None:
        """Optuna's parameter importances; null until five trials have completed with varied settings."""
        return selectors.sweep_importances(sweep)


class ProjectSweepsView(APIView):
    @extend_schema(responses=SweepOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = _admin_project(request, project_id)
        return Response(SweepOutput(selectors.sweeps_of(project.pk)[:100], many=True).data)

    @extend_schema(request=SweepInput, responses={201: SweepOutput})
    def post(self, request: Request, project_id: int) -> Response:
        project = _admin_project(request, project_id)
        data = SweepInput(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        if given["kind"] == SweepKind.SEARCH:
            sweep = sweeps.start_search(project, n_trials=given["n_trials"], search=given["search_space"],
                                        parallel=given["parallel"], user=request.user)
        else:
            sweep = sweeps.start_subsample_study(project, fractions=given["fractions"], seeds=given["seeds"],
                                                 parallel=given["parallel"], user=request.user)
        return Response(SweepOutput(sweep).data, status=status.HTTP_201_CREATED)


class SearchSpaceView(APIView):
    """The default search space (what a sweep searches when not told otherwise)."""

    @extend_schema(responses=dict)
    def get(self, request: Request, project_id: int) -> Response:
        _admin_project(request, project_id)
        return Response({"default": DEFAULT_SPACE, "parameters": {n: ".".join(p.path) for n, p in PARAMETERS.items()}})


class SweepDetailView(APIView):
    @extend_schema(responses=SweepDetailOutput)
    def get(self, request: Request, sweep_id: int) -> Response:
        return Response(SweepDetailOutput(_admin_sweep(request, sweep_id)).data)


class SweepCancelView(APIView):
    @extend_schema(request=None, responses=SweepOutput)
    def post(self, request: Request, sweep_id: int) -> Response:
        return Response(SweepOutput(sweeps.cancel_sweep(_admin_sweep(request, sweep_id))).data)


class SweepResumeView(APIView):
    @extend_schema(request=None, responses=SweepOutput)
    def post(self, request: Request, sweep_id: int) -> Response:
        return Response(SweepOutput(sweeps.resume_sweep(_admin_sweep(request, sweep_id))).data)


class SweepAdoptView(APIView):
    """Make the best trial's settings the project's backend settings (checked as the settings API checks)."""

    @extend_schema(request=None, responses=dict)
    def post(self, request: Request, sweep_id: int) -> Response:
        project = sweeps.adopt_best_settings(_admin_sweep(request, sweep_id))
        return Response({"project": project.pk, "backend_settings": project.backend_settings})


def _admin_sweep(request: Request, sweep_id: int) -> Sweep:
    sweep = selectors.sweep_for(cast(AbstractBaseUser, request.user), sweep_id)  # authenticated: the API's default
    _require_admin(request, sweep)
    return sweep
