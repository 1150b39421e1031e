"""Django settings for labelserver.

Everything a deployment changes is read from the environment (see docs/configuration.md).
The embedded defaults run the whole product on one machine with no servers: SQLite in WAL
mode and a Celery broker on the filesystem. Bad values stop the process at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from labelserver.env import data_dir, envbool, envchoice, envint, envlist, envstr, load_env_file, public_origin

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = data_dir()
# The local development settings `make migrate` writes (DEBUG=1, a random SECRET_KEY), if there;
# never over the real environment. Production sets its environment and has no such file.
load_env_file(DATA_DIR / ".env")

DEBUG = envbool("DEBUG", False)
SECRET_KEY = envstr("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (any long random string); for local "
            f"development run `make migrate`, which writes DEBUG=1 and a random key to {DATA_DIR / '.env'}."
        )
    SECRET_KEY = "insecure-local-development-key-do-not-deploy"
if not DEBUG and len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long in production")

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # swagger-ui from our own static files, not a CDN
    "django_celery_beat",
    "axes",
    "csp",
    "annotations",
    "active_learning",
    "frontend",
]

MIDDLEWARE = [
    # First: answers GET /healthz for probes before the host check and the HTTPS redirect
    # (labelserver/health.py); every other request passes straight on.
    "labelserver.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, so that it sees the lockout a login view's authenticate() flagged (docs/security.md).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "labelserver.urls"
WSGI_APPLICATION = "labelserver.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
# Each web thread keeps its connection for good: opening one costs ~8 ms on PostgreSQL (a
# `next` is ~10 ms), and with a 60 s limit every thread paid that once a minute: about one
# request in 20 at 50 labellers' pace. The health check (one SELECT 1, ~0.1 ms, on a request's
# first query) replaces a connection the server closed (a restart, an idle timeout) instead of
# failing that request.
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=None, conn_health_checks=True)}
except Exception as exc:  # dj_database_url raises several types for bad URLs
    raise ImproperlyConfigured(f"DATABASE_URL={DATABASE_URL!r} is not a valid database URL: {exc}")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web server read while a worker writes; IMMEDIATE transactions take the
    # write lock up front, so two writers queue on the busy timeout instead of failing with
    # "database is locked" when a read transaction tries to upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": envint("SQLITE_BUSY_TIMEOUT_SECONDS", 30, minimum=1),
    }
    # A file, not shared-cache memory, so tests with threads and worker processes see the same
    # data with the same locking as production.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in ("UserAttributeSimilarityValidator", "MinimumLengthValidator", "CommonPasswordValidator",
                 "NumericPasswordValidator")
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# No URL serves MEDIA_ROOT: each stored file is answered by a view that checks who may read it
# (labelserver/files.py). After that check, "X-Accel-Redirect" (nginx) or "X-Sendfile" (Apache)
# lets the proxy send the bytes; "none" streams them from Django.
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(envstr("MEDIA_ROOT", str(DATA_DIR / "media"))).resolve()
SENDFILE_HEADER = envchoice("SENDFILE_HEADER", "none", ("none", "X-Accel-Redirect", "X-Sendfile"))
# Where stored files live (labelserver/storage.py): MEDIA_ROOT on this machine ("local"), or an
# S3-compatible store ("s3": MinIO, Ceph, AWS, GCS interop) that every host reaches, so a GPU
# worker on another host reads the crops and writes the weights the web server serves.
STORAGE_BACKEND = envchoice("STORAGE_BACKEND", "local", ("local", "s3"))
# Local copies of stored files that must be files (originals to memory-map, weights for Cellpose),
# under their stored names; with "s3" only. Names are content hashes: a copy never goes stale.
STORAGE_CACHE_DIR = Path(envstr("STORAGE_CACHE_DIR", str(DATA_DIR / "storage-cache"))).resolve()
# Its size, kept by evicting the copies used longest ago (labelserver/storage.py); 0: no limit.
STORAGE_CACHE_MAX_MB = envint("STORAGE_CACHE_MAX_MB", 50 * 1024, minimum=0)
# A browser follows the redirect at once: 60 s covers a slow start and some clock skew between the
# web host and the store, yet a signed URL that leaks (history, a log, a shared link) soon stops
# working, and a member removed from a project loses access within a minute (docs/security.md).
S3_SIGNED_URL_SECONDS = envint("S3_SIGNED_URL_SECONDS", 60, minimum=1)
STORAGE_OPTIONS: dict[str, Any] = {}
if STORAGE_BACKEND == "s3":
    if SENDFILE_HEADER != "none":
        raise ImproperlyConfigured("SENDFILE_HEADER applies to files on a local disk; with STORAGE_BACKEND=s3 "
                                   "browsers fetch files from the store by a signed URL: leave it unset")
    S3_BUCKET = envstr("S3_BUCKET", "")
    if not S3_BUCKET:
        raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs S3_BUCKET, the bucket that holds the stored files")
    S3_ENDPOINT_URL = envstr("S3_ENDPOINT_URL", "")  # empty: AWS S3 itself
    STORAGE_OPTIONS = {
        "bucket_name": S3_BUCKET,
        "endpoint_url": S3_ENDPOINT_URL or None,
        "public_endpoint_url": envstr("S3_PUBLIC_ENDPOINT_URL", "") or None,
        "region_name": envstr("S3_REGION", "us-east-1"),
        # Empty: boto3 finds keys itself (AWS_ACCESS_KEY_ID, an instance role, ~/.aws).
        "access_key": envstr("S3_ACCESS_KEY_ID", "") or None,
        "secret_key": envstr("S3_SECRET_ACCESS_KEY", "") or None,
        "location": envstr("S3_PREFIX", "").strip("/"),
        # MinIO and Ceph answer on one host name ("path"); AWS prefers bucket.host names ("virtual").
        "addressing_style": envchoice("S3_ADDRESSING_STYLE", "path" if S3_ENDPOINT_URL else "auto",
                                      ("path", "virtual", "auto")),
        "signature_version": "s3v4",
        "querystring_expire": S3_SIGNED_URL_SECONDS,
        # As on a local disk: a name taken gets another; content-addressed names make that rare.
        "file_overwrite": False,
        "default_acl": None,  # the bucket stays private; browsers get signed URLs
    }
# Browsers fetch stored files from the store by signed URLs: the pages' images may come from there.
STORAGE_PUBLIC_ORIGINS = [
    public_origin(STORAGE_OPTIONS["public_endpoint_url"] or STORAGE_OPTIONS["endpoint_url"],
                  bucket_in_host=S3_BUCKET if STORAGE_OPTIONS["addressing_style"] == "virtual" else None)
] if STORAGE_OPTIONS else []
STORAGES = {
    "default": (
        {"BACKEND": "labelserver.storage.ObjectStorage", "OPTIONS": STORAGE_OPTIONS}
        if STORAGE_BACKEND == "s3"
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Security (docs/security.md) --------------------------------------------------------------
# Behind a TLS proxy: trust its X-Forwarded-Proto, send HSTS, redirect plain HTTP and keep the
# cookies to HTTPS. Without one (local, or plain HTTP inside a lab) none of these may be on, or
# the browser would refuse the site.
BEHIND_TLS_PROXY = envbool("BEHIND_TLS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SECURE_SSL_REDIRECT = BEHIND_TLS_PROXY
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("SECURE_COOKIES", BEHIND_TLS_PROXY)
SECURE_HSTS_SECONDS = envint("HSTS_SECONDS", 365 * 24 * 3600 if BEHIND_TLS_PROXY else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preloading commits the whole registrable domain (a university's, often) to HTTPS in every
# browser: the domain owner's decision, not this app's, so the check that asks for it is off.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
# The client address that login limits count: REMOTE_ADDR, or, behind this many proxies, the
# address the outermost one saw in X-Forwarded-For (any other entry can be forged by the client).
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 1 if BEHIND_TLS_PROXY else 0, minimum=0)

# Wrong passwords: after LOGIN_FAILURE_LIMIT failures for one user name, or from one client
# address, within LOGIN_LOCKOUT_SECONDS, logins from there are answered 429 until the window
# has passed. The API token endpoint counts with DRF throttles (annotations/api/throttles.py),
# the login forms with django-axes; both read these two numbers (annotations/login_limits.py).
LOGIN_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 30, minimum=1)
LOGIN_LOCKOUT_SECONDS = envint("LOGIN_LOCKOUT_SECONDS", 15 * 60, minimum=1)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before any password check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = "annotations.login_limits.failure_limit"
AXES_COOLOFF_TIME = "annotations.login_limits.lockout_window"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one alone locks
AXES_CLIENT_IP_CALLABLE = "annotations.login_limits.client_address"
AXES_LOCKOUT_CALLABLE = "frontend.lockout.lockout_response"
# A failure during a lockout must not restart it, or anyone could keep a user locked out for good.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_VERBOSE = False  # no start-up banner on every manage.py command; failures are still logged

# Throttle counts must be shared by every web process (gunicorn workers): files under DATA_DIR
# on one machine; Redis (`redis://...`) when the app runs on several (docker-compose.yml).
CACHE_URL = envstr("CACHE_URL", f"file://{DATA_DIR / 'cache'}")
CACHES: dict[str, dict[str, Any]]
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL.startswith("file://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": CACHE_URL.removeprefix("file://"), "OPTIONS": {"MAX_ENTRIES": 100_000}}}
else:
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r} must start with file:// or redis://")

# Pages load scripts, styles, images and data from this site only: no inline script or style
# (the templates and the editor keep to that), no plugins, no framing, forms post here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", *STORAGE_PUBLIC_ORIGINS],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}
# The DEBUG error page masks passwords in URLs (DATABASE_URL, the broker, the cache) as well.
DEFAULT_EXCEPTION_REPORTER_FILTER = "labelserver.error_reports.SecretMaskingFilter"

# Two limits on a request body (docs/security.md). A body without files (JSON, form fields) is
# read into memory, so it gets a small one: MAX_JSON_MB holds the editor's largest RLE mask (a
# 4096-pixel crop of 8,000 cells is 7 MB; 2,000 cells on 2048 pixels, 1.7 MB) with room to spare
# (annotations/api/parsers.py). Files stream to disk past FILE_UPLOAD_MAX_MEMORY_SIZE and a
# multipart request may carry up to MAX_UPLOAD_MB, counted as it streams (annotations/api/uploads.py).
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("MAX_JSON_MB", 10, minimum=1) * 1024 * 1024
MAX_UPLOAD_BYTES = envint("MAX_UPLOAD_MB", 2048, minimum=1) * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "annotations.api.uploads.UploadLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Bounded in size and JSON nesting (annotations/api/parsers.py); files stream to disk.
    "DEFAULT_PARSER_CLASSES": [
        "annotations.api.parsers.BoundedJSONParser",
        "annotations.api.parsers.BoundedFormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "annotations.api.pagination.StrictLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "labelserver.openapi.ErrorListingAutoSchema",
    "EXCEPTION_HANDLER": "annotations.api.errors.exception_handler",
    # Throttles take the client address from X-Forwarded-For only behind a proxy (DRF's default,
    # None, would believe whatever the client writes there).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "labelserver API",
    "DESCRIPTION": "Active-learning labelling server for microscopy cell segmentation.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # `<id:...>` path parameters (labelserver/converters.py): ids within the database's range.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}},
    # The docs page loads swagger-ui from our static files (drf-spectacular-sidecar), not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CropStatusEnum": "annotations.models.CropStatus",
        "SplitEnum": "annotations.models.Split",
        "JobStatusEnum": "active_learning.models.JobStatus",
        "JobKindEnum": "active_learning.models.JobKind",
        "SweepKindEnum": "active_learning.models.SweepKind",
        "SweepStatusEnum": "active_learning.models.SweepStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "active_learning.api.schema.backend_settings_in_schema",
    ],
}

# --- Celery ---------------------------------------------------------------------------------
# The default broker keeps messages as files under DATA_DIR: a real worker process, no server.
# "localhost" means nothing to the filesystem transport, but without a host kombu logs "No
# hostname was supplied" each time it connects, i.e. on every command that queues a job.
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", "filesystem://localhost/")
CELERY_BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {"visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 6 * 3600, minimum=60)}
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"active_learning.tasks.run_gpu_job": {"queue": "gpu"}}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A job goes on while the broker is away (it needs the database, not the broker); its message is
# acknowledged once the worker is connected again, or delivered again later and finds the job
# ended (tests/test_worker_redis.py). Celery 6 would cancel such jobs on every lost connection.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_SOFT_TIME_LIMIT = envint("JOB_SOFT_TIME_LIMIT_SECONDS", 4 * 3600, minimum=10)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 300
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Domain settings ------------------------------------------------------------------------
LABELSERVER = {
    # Images with more pixels than this are refused before decoding (decompression bombs).
    "MAX_IMAGE_PIXELS": envint("MAX_IMAGE_PIXELS", 120_000_000, minimum=1),
    # More channels than this are refused from the header (a TIFF's pages count as channels).
    "MAX_IMAGE_CHANNELS": envint("MAX_IMAGE_CHANNELS", 64, minimum=1),
    "LEASE_SECONDS": envint("LEASE_SECONDS", 30 * 60, minimum=10),
    # Live leases one labeller may hold in a project (admins excepted; annotations/leases.py).
    "MAX_LEASES_PER_LABELLER": envint("MAX_LEASES_PER_LABELLER", 3, minimum=1),
    # A running job whose heartbeat is older than this is taken as orphaned by a dead worker.
    "JOB_HEARTBEAT_TIMEOUT_SECONDS": envint("JOB_HEARTBEAT_TIMEOUT_SECONDS", 600, minimum=30),
    "DEVICE": envchoice("LABELSERVER_DEVICE", "auto", ("auto", "cpu", "cuda", "mps")),
    "CELLPOSE_MODELS_DIR": Path(envstr("CELLPOSE_LOCAL_MODELS_PATH", str(DATA_DIR / "cellpose-models"))),
    "PRETRAINED_DOWNLOAD_TIMEOUT_SECONDS": envint("PRETRAINED_DOWNLOAD_TIMEOUT_SECONDS", 20, minimum=1),
    "PROJECT_CREATORS": envchoice("PROJECT_CREATORS", "staff", ("staff", "users")),  # who may start one (web)
    # A finished export's zip is kept this long for download, then deleted (active_learning/transfers.py).
    "EXPORT_KEEP_HOURS": envint("EXPORT_KEEP_HOURS", 7 * 24, minimum=1),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"numba": {"level": "WARNING"}, "PIL": {"level": "WARNING"}},
}

# Fixed housekeeping; per-project retraining schedules live in django-celery-beat's tables.
CELERY_BEAT_SCHEDULE = {
    "reap-stale-jobs": {"task": "active_learning.tasks.reap_stale_jobs", "schedule": 60.0},
    "delete-expired-exports": {"task": "active_learning.tasks.delete_expired_exports", "schedule": 3600.0},
}
