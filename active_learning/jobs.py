"""The life of a background job: queue, claim, heartbeat, progress, cancel, finish, reap.

A job row is the source of truth; a Celery message only says "look at job N". Claiming is one
conditional UPDATE (queued -> running), so a message delivered twice runs the job once. A
heartbeat thread keeps `heartbeat_at` fresh while the job runs; a running job whose heartbeat
goes stale belonged to a worker that died, and `reap_stale_jobs` marks it failed.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from importlib import import_module
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone
from kombu.exceptions import OperationalError

from active_learning.models import ACTIVE_JOB_STATUSES, TRANSFER_JOB_KINDS, Job, JobKind, JobStatus
from annotations.models import Project
from labelserver.errors import Conflict, DomainError

logger = logging.getLogger(__name__)

# What runs each kind of job: a plain function taking the claimed Job and a JobContext.
JOB_RUNNERS: dict[str, str] = {
    JobKind.TRAIN: "active_learning.training.run_training_job",
    JobKind.PREDICT: "active_learning.prediction.run_prediction_job",
    JobKind.SCORE: "active_learning.prediction.run_prediction_job",
    JobKind.SWEEP_TRIAL: "active_learning.sweeps.run_sweep_trial",
    JobKind.SWEEP_FINISH: "active_learning.sweeps.run_sweep_finish",
    JobKind.INGEST: "active_learning.transfers.run_ingest_job",
    JobKind.IMPORT: "active_learning.transfers.run_import_job",
    JobKind.EXPORT: "active_learning.transfers.run_export_job",
}

# What runs once a job of a kind has ended, however it ended (its worker dying included): a plain
# function taking the job id. A sweep queues its next trial here, after the row says the job ended,
# so of two trials ending at once at least one sees the other ended.
JOB_ENDED: dict[str, str] = {
    JobKind.SWEEP_TRIAL: "active_learning.sweeps.job_ended",
    JobKind.SWEEP_FINISH: "active_learning.sweeps.job_ended",
    # The staged upload is deleted, whichever way the job ended (an export's zip is stored only once whole).
    JobKind.INGEST: "active_learning.transfers.job_ended",
    JobKind.IMPORT: "active_learning.transfers.job_ended",
    JobKind.EXPORT: "active_learning.transfers.job_ended",
}

HEARTBEAT_SECONDS = 15

_dispatch = threading.local()


class JobFailed(DomainError):
    """A job cannot go on; the message is shown to admins as the reason."""


class JobCancelled(Exception):
    """Raised inside a job when an admin asked it to stop."""


def enqueue_job(
    project: Project,
    kind: str,
    *,
    params: dict[str, Any] | None = None,
    model_version: Any = None,
    user: Any = None,
    trigger: str = "manual",
    sweep: Any = None,
) -> Job:
    """Create a queued job and send it to the workers once the transaction commits; for a
    prediction or scoring job, the same job queued already instead (see `queue_job`)."""
    return queue_job(project, kind, params=params, model_version=model_version, user=user, trigger=trigger,
                     sweep=sweep)[0]


def queue_job(
    project: Project,
    kind: str,
    *,
    params: dict[str, Any] | None = None,
    model_version: Any = None,
    user: Any = None,
    trigger: str = "manual",
    sweep: Any = None,
) -> tuple[Job, bool]:
    """(the new queued job, True), or (its queued twin, False): one queued prediction or scoring
    job per (project, kind, model version) at a time, as a second would redo the first's work (an
    admin clicking "start" repeatedly queued 177). A running one does not count: it may have
    started before the crops or the version it should see. Training has its own rule, one active
    per project, which the database enforces (a Conflict); a sweep's jobs have none (each is a
    trial of its own, and the sweep counts them, active_learning.sweeps)."""
    try:
        with transaction.atomic():
            twin = _queued_twin(project, kind, model_version) if kind in (JobKind.PREDICT, JobKind.SCORE) else None
            if twin is not None:
                return twin, False
            job = Job.objects.create(
                project=project,
                kind=kind,
                params=params or {},
                model_version=model_version,
                created_by=user,
                trigger=trigger,
                sweep=sweep,
            )
    except IntegrityError:
        running = Job.objects.filter(project=project, kind=kind, status__in=ACTIVE_JOB_STATUSES).first()
        raise Conflict(
            f"a {kind} job for project {project.name!r} is already {running.status if running else 'active'}"
            f"{f' (job {running.pk})' if running else ''}; wait for it to finish or cancel it"
        ) from None
    transaction.on_commit(lambda: _send(job.pk, kind))
    return job, True


def _queued_twin(project: Project, kind: str, model_version: Any) -> Job | None:
    """The queued job of this kind and version, if any. On PostgreSQL the project row is locked
    first, so two requests at once cannot both find none and both queue one; SQLite's IMMEDIATE
    transactions are serial already."""
    if connection.features.has_select_for_update:
        list(Project.objects.select_for_update().filter(pk=project.pk).values_list("pk"))
    queued = Job.objects.filter(project=project, kind=kind, model_version=model_version, status=JobStatus.QUEUED)
    return queued.order_by("created_at", "pk").first()


@contextmanager
def run_by_caller() -> Iterator[None]:
    """Inside this block (in this thread) nothing is sent to the Celery workers: enqueued jobs
    stay queued for the caller to run with `run_job`, and labels do not ask a worker to check
    the retraining trigger. The labelling simulation is its own worker this way, with no
    worker racing it for its jobs."""
    previous = dispatch_held()
    _dispatch.held = True
    try:
        yield
    finally:
        _dispatch.held = previous


def dispatch_held() -> bool:
    """Whether this thread runs its jobs itself (see `run_by_caller`)."""
    return getattr(_dispatch, "held", False)


def _send(job_id: int, kind: str) -> None:
    if dispatch_held():
        return
    from active_learning.tasks import run_gpu_job, run_transfer_job

    task = run_transfer_job if kind in TRANSFER_JOB_KINDS else run_gpu_job
    try:
        task.delay(job_id)
    except OperationalError as exc:
        # The job row is committed but no worker will ever hear of it: failed with the reason,
        # not queued forever (and, for a training, not blocking the project's next one).
        _fail_unsent(job_id, f"the job could not be queued: the Celery broker is unreachable ({exc}); start it again")


def _fail_unsent(job_id: int, reason: str) -> None:
    if Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.FAILED, error=reason, finished_at=timezone.now()
    ):
        append_log(job_id, f"FAILED: {reason}")
        logger.error("job %s failed: %s", job_id, reason)
        _job_ended(job_id)


def claim_job(job_id: int, worker: str) -> Job | None:
    """Move a queued job to running; None when another delivery already took it (or it was cancelled).

    The job records the worker's name and the process id that runs it, so a redelivery after
    that process died can tell (see `fail_if_orphaned`)."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, worker=f"{worker} pid={os.getpid()}"
    )
    return Job.objects.get(pk=job_id) if claimed == 1 else None


def fail_if_orphaned(job_id: int, worker: str) -> bool:
    """A job redelivered to the worker that ran it, whose process is gone, died with that process."""
    job = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING, worker__startswith=f"{worker} pid=").first()
    if job is None or _process_alive(int(job.worker.rsplit("pid=", 1)[1])):
        return False
    return _fail_orphan(job_id)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def append_log(job_id: int, line: str) -> None:
    stamped = f"{timezone.now():%Y-%m-%d %H:%M:%S} {line}\n"
    Job.objects.filter(pk=job_id).update(log=Concat(F("log"), Value(stamped)))


def set_progress(job_id: int, **progress: Any) -> bool:
    """Record progress and a heartbeat; returns True when cancellation was requested."""
    Job.objects.filter(pk=job_id).update(progress=progress, heartbeat_at=timezone.now())
    return Job.objects.filter(pk=job_id, cancel_requested=True).exists()


def finish_job(job_id: int, status: str, error: str = "") -> None:
    Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        status=status, error=error, finished_at=timezone.now()
    )


def request_cancel(job: Job) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next check."""
    now = timezone.now()
    if Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, finished_at=now, cancel_requested=True
    ):
        _job_ended(job.pk)
        return Job.objects.get(pk=job.pk)
    if not Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(cancel_requested=True):
        raise Conflict(f"job {job.pk} has already ended ({job.status})")
    return Job.objects.get(pk=job.pk)


def job_workspace(job_id: int) -> Path:
    """A job's scratch folder for files not yet committed (e.g. weights being trained)."""
    return Path(settings.MEDIA_ROOT) / "tmp" / f"job-{job_id}"


def reap_stale_jobs(*, worker: str | None = None) -> list[int]:
    """Mark running jobs whose worker died as failed. With `worker`, every running job of that
    worker is stale (it has just started, so it runs nothing)."""
    timeout = settings.LABELSERVER["JOB_HEARTBEAT_TIMEOUT_SECONDS"]
    stale = Job.objects.filter(status=JobStatus.RUNNING)
    if worker:
        stale = stale.filter(worker__startswith=f"{worker} ")
    else:
        stale = stale.filter(heartbeat_at__lt=timezone.now() - timedelta(seconds=timeout))
    return [job_id for job_id in stale.values_list("pk", flat=True) if _fail_orphan(job_id)]


def _fail_orphan(job_id: int) -> bool:
    reason = "the worker process running this job stopped (it died or was killed); nothing it made was kept"
    if not Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED, error=reason, finished_at=timezone.now()
    ):
        return False
    shutil.rmtree(job_workspace(job_id), ignore_errors=True)
    append_log(job_id, f"FAILED: {reason}")
    logger.warning("job %s failed: %s", job_id, reason)
    _job_ended(job_id)
    return True


class JobContext:
    """What a running job's code sees: progress reporting, logging, and cancellation."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.workspace = job_workspace(job.pk)
        self._cancelled = threading.Event()

    def log(self, line: str) -> None:
        logger.info("job %s: %s", self.job.pk, line)
        append_log(self.job.pk, line)

    def progress(self, **values: Any) -> None:
        if set_progress(self.job.pk, **values):
            self._cancelled.set()

    def should_stop(self) -> bool:
        return self._cancelled.is_set()

    def check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise JobCancelled()

    def mark_cancel_requested(self) -> None:
        self._cancelled.set()


@contextmanager
def _heartbeat(context: JobContext) -> Iterator[None]:
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(HEARTBEAT_SECONDS):
                Job.objects.filter(pk=context.job.pk).update(heartbeat_at=timezone.now())
                if Job.objects.filter(pk=context.job.pk, cancel_requested=True).exists():
                    context.mark_cancel_requested()
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-job-{context.job.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _runner(kind: str) -> Callable[[Job, JobContext], None]:
    module_name, func_name = JOB_RUNNERS[kind].rsplit(".", 1)
    return getattr(import_module(module_name), func_name)


def _job_ended(job_id: int) -> None:
    kind = Job.objects.filter(pk=job_id).values_list("kind", flat=True).first()
    if kind not in JOB_ENDED:
        return
    module_name, func_name = JOB_ENDED[kind].rsplit(".", 1)
    try:
        getattr(import_module(module_name), func_name)(job_id)
    except Exception:  # the job's own end is recorded already; what follows it must not undo that
        logger.exception("after job %s ended", job_id)


def run_job(job_id: int, worker: str) -> str | None:
    """Claim and run a job; returns its final status, or None when it was not ours to run."""
    job = claim_job(job_id, worker)
    if job is None:
        if fail_if_orphaned(job_id, worker):
            return JobStatus.FAILED
        logger.info("job %s was not queued (already taken, finished or cancelled); nothing to do", job_id)
        return None
    context = JobContext(job)
    context.log(f"started on {worker}")
    status, error = JobStatus.SUCCEEDED, ""
    try:
        with _heartbeat(context):
            _runner(job.kind)(job, context)
    except JobCancelled:
        status, error = JobStatus.CANCELLED, "cancelled by an admin"
    except SoftTimeLimitExceeded:
        status, error = JobStatus.FAILED, "the job ran past its time limit (JOB_SOFT_TIME_LIMIT_SECONDS)"
    except DomainError as exc:
        status, error = JobStatus.FAILED, str(exc)
    except MemoryError:
        status, error = JobStatus.FAILED, "out of memory: lower the batch size or the training tile size"
    except Exception as exc:  # a job must end with a reason, whatever broke
        if "out of memory" in str(exc).lower():
            status, error = JobStatus.FAILED, f"out of memory on the device: {exc}"
        else:
            logger.exception("job %s crashed", job_id)
            status, error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(context.workspace, ignore_errors=True)
    context.log(f"{status}{': ' + error if error else ''}")
    finish_job(job_id, status, error)
    _job_ended(job_id)
    return status
