"""Settings, read only from the environment, with safe development defaults.

Every variable is documented in `.env.example`. A value that cannot be understood
stops the start with a message rather than being silently ignored.
"""

import datetime as dt
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_int,
    env_list,
    env_networks,
    env_proxy_ssl_header,
    env_str,
    secret_key_problem,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DJANGO_DEBUG", default=True)

_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", default=[])
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DJANGO_DEBUG is off.")
if not DEBUG:
    # Sessions, one-time codes and the audit trail's person hashes are keyed by it: refuse to
    # start with a key anyone could know.
    for _name, _key in [("SECRET_KEY", SECRET_KEY)] + [
        ("SECRET_KEY_FALLBACKS", key) for key in SECRET_KEY_FALLBACKS
    ]:
        if _problem := secret_key_problem(_key):
            raise ImproperlyConfigured(
                f"{_name} is weak: {_problem}. Generate one with: python -c "
                "'import secrets; print(secrets.token_urlsafe(50))'"
            )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "import_export",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
    "schools",
    "enrollment",
    "confirmations",
    "desk",
    "audit",
    "security",
    "demo",
    "health",
]

MIDDLEWARE = [
    # First: /healthz and /readyz answer load balancers before host checks, redirects or sessions.
    "health.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves static files from the web process itself, so a deployment needs no extra server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A NUL in the path, query or form fields is a 400 (PostgreSQL refuses NUL in text).
    "security.middleware.NulRefusalMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Staff sessions end after STAFF_SESSION_IDLE_MINUTES idle or STAFF_SESSION_MAX_HOURS.
    "security.middleware.StaffSessionTimeoutMiddleware",
    # Staff with a two-factor device (or all staff, with STAFF_REQUIRE_2FA) verify it first.
    "security.middleware.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Lets the audit trail name who acted when a signal (admin, designations) records it.
    "audit.middleware.AuditContextMiddleware",
    # A shared address with many failed staff logins waits longer between tries.
    "security.middleware.LoginBackoffMiddleware",
    # django-axes: locks an account after STAFF_LOGIN_FAILURE_LIMIT wrong passwords (last).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

WSGI_APPLICATION = "config.wsgi.application"

DATABASE_URL = env_str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
try:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", default=60)
        )
    }
except Exception as exc:  # the library raises several types for a malformed URL
    raise ImproperlyConfigured(f"DATABASE_URL cannot be understood: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # An unreachable database fails a request (and /readyz) in seconds instead of hanging.
    DATABASES["default"]["OPTIONS"] = {"connect_timeout": 5}
    # Behind pgbouncer in transaction pooling mode (see README, scaling out).
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool(
        "DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; wait for the lock instead of failing while the
    # worker and the web process both write (development only).
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "schools.User"
AUTHENTICATION_BACKENDS = [
    # Refuses any login for a locked account before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- identity and access (issue 9; every name below is documented in .env.example) -----------

# Reverse proxies whose X-Forwarded-For may be believed (addresses or CIDR networks). Without
# them the client address is REMOTE_ADDR; with them, X-Forwarded-For read right to left,
# skipping trusted hops.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")

# Staff sessions: an idle timeout and an absolute lifetime; the cookie dies with the browser.
STAFF_SESSION_IDLE_MINUTES = env_int("STAFF_SESSION_IDLE_MINUTES", default=30, minimum=1)
STAFF_SESSION_MAX_HOURS = env_int("STAFF_SESSION_MAX_HOURS", default=10, minimum=1)
SESSION_COOKIE_AGE = STAFF_SESSION_MAX_HOURS * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Failed staff logins (portal and admin), django-axes: the account locks after this many wrong
# passwords in a row, until a city administrator unlocks it (STAFF_LOCKOUT_MINUTES=0) or for
# that many minutes.
AXES_FAILURE_LIMIT = env_int("STAFF_LOGIN_FAILURE_LIMIT", default=20, minimum=1)
_LOCKOUT_MINUTES = env_int("STAFF_LOCKOUT_MINUTES", default=0)
AXES_COOLOFF_TIME = dt.timedelta(minutes=_LOCKOUT_MINUTES) if _LOCKOUT_MINUTES else None
# Per account only: a shared address is slowed down (LoginBackoffMiddleware), never locked.
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes.W006 asks for an address lockout as well; the per-address limit here is deliberately
# the progressive back-off above, so that one campus or office address cannot be locked out.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "security.client.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
AXES_DISABLE_ACCESS_LOG = True  # successful logins are in the audit trail
# Per address: after this many failed staff logins in 15 minutes, each further try from that
# address waits 2, 4, 8 … seconds, at most STAFF_LOGIN_MAX_BACKOFF_SECONDS.
STAFF_LOGIN_FREE_FAILURES_PER_ADDRESS = env_int(
    "STAFF_LOGIN_FREE_FAILURES_PER_ADDRESS", default=10, minimum=1
)
STAFF_LOGIN_MAX_BACKOFF_SECONDS = env_int("STAFF_LOGIN_MAX_BACKOFF_SECONDS", default=300, minimum=1)

# Two-factor (TOTP) for staff: optional per user; STAFF_REQUIRE_2FA=1 requires it of every
# staff user (all of them can export lists or see full ID numbers of their scope).
STAFF_REQUIRE_2FA = env_bool("STAFF_REQUIRE_2FA", default=False)
OTP_TOTP_ISSUER = "新生参保"

# Students: identify requests from one address beyond this many an hour wait 1, 2, 4 …
# seconds between requests, at most IDENTIFY_MAX_BACKOFF_SECONDS (a campus NAT is slowed,
# never locked out).
IDENTIFY_FREE_PER_ADDRESS_PER_HOUR = env_int(
    "IDENTIFY_FREE_PER_ADDRESS_PER_HOUR", default=60, minimum=1
)
IDENTIFY_MAX_BACKOFF_SECONDS = env_int("IDENTIFY_MAX_BACKOFF_SECONDS", default=5, minimum=1)

# The audit trail finds a person by a keyed hash of their ID number, never the number itself.
# Keep it stable: entries written under another key are not found by person.
AUDIT_PERSON_KEY = env_str("AUDIT_PERSON_KEY", default="") or "audit-person:" + SECRET_KEY

# Stored roster files are purged this many days after their policy year closes; counts and
# the audit trail stay (`manage.py purge_upload_files`, daily in the beat schedule).
UPLOAD_RETENTION_DAYS_AFTER_YEAR = env_int("UPLOAD_RETENTION_DAYS_AFTER_YEAR", default=90)
# A file uploaded to the admin's import waits this long for its confirmation, then the same
# purge removes it (enrollment.admin_formats.DraftStorage).
IMPORT_DRAFT_HOURS = env_int("IMPORT_DRAFT_HOURS", default=24)

# --- transport security: on by default without DEBUG; each can be turned off for plain http
# (the e2e stack on http://127.0.0.1) with the variable of the same name. ----------------------
SECURE_PROXY_SSL_HEADER = env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy: every script and style comes from our own static files; no inline
# script, no inline event handler, no inline style attribute.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise serves from here after collectstatic
WHITENOISE_USE_FINDERS = DEBUG  # development serves app and project static without collectstatic
STATICFILES_DIRS = [BASE_DIR / "static"]
if not DEBUG:
    # Collected files get content-hashed names: a deploy never serves yesterday's script from a
    # browser's cache, and a template naming a missing file fails loudly instead of silently.
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

# Uploaded files' own limit is enrollment.spreadsheets.MAX_FILE_BYTES (30 MB), asked by every
# form; these keep the request bodies Django holds in memory small.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 20000  # batch delete posts one field per selected record

# Celery. Without REDIS_URL the broker is a folder on disk, so `make run` needs no server.
REDIS_URL = env_str("REDIS_URL", default="")
# Publishing must never hold a web worker: a stopped or frozen broker answers within
# BROKER_TIMEOUT_SECONDS, enqueue logs the failure and the sweepers queue the work later.
BROKER_TIMEOUT_SECONDS = 1.0
# The longest task (a 50,000-row roster check or commit; a batch runs in chunks of a few
# seconds) fits well within this; a task unacknowledged this long is delivered again.
BROKER_VISIBILITY_TIMEOUT_SECONDS = 30 * 60
# Publishing: one quick retry, then enqueue gives up (config.queueing).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
REDIS_TRANSPORT_OPTIONS = {
    "visibility_timeout": BROKER_VISIBILITY_TIMEOUT_SECONDS,
    "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
    "socket_timeout": BROKER_TIMEOUT_SECONDS,
    **CELERY_TASK_PUBLISH_RETRY_POLICY,  # connecting, too
}
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = dict(REDIS_TRANSPORT_OPTIONS)
else:
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
# Sessions: read from Redis when there is one (the production stack), always written to the
# database too (`cached_db`); in the database alone otherwise. The student flow read its
# session row on nearly every request (bench/RESULTS.md, issue 14). Redis is also the broker:
# when it is down or frozen, the session cache fails soft within its timeouts
# (config/redis_cache.py) and the database answers, so an outage ends nobody's session
# (issue 11). Keys carry the deployment's queue prefix, so that two deployments sharing a
# Redis database never share sessions.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
_CACHE_KEY_PREFIX = env_str("CELERY_QUEUE_PREFIX", default="")
if REDIS_URL:
    CACHES["sessions"] = {
        "BACKEND": "config.redis_cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "sessions:" + _CACHE_KEY_PREFIX,
        "OPTIONS": {
            "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
            "socket_timeout": BROKER_TIMEOUT_SECONDS,
        },
    }
    # Django's cached_db with fewer statements per write (config/sessions.py).
    SESSION_ENGINE = "config.sessions"
    SESSION_CACHE_ALIAS = "sessions"
    # Version tokens of what processes keep between requests (confirmations/year_cache.py).
    CACHES["shared"] = {**CACHES["sessions"], "KEY_PREFIX": "shared:" + _CACHE_KEY_PREFIX}
# Without Redis (development) nothing is kept between requests: no token to invalidate it.
SHARED_CACHE_ALIAS = "shared" if REDIS_URL else ""
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_TIMEOUT_SECONDS

# Queues, one per kind of work, so that a 50,000-student batch or a slow file never holds up a
# student's account. Tasks go to their queue by name (config.queueing.route_task); the
# production stack (Procfile) runs a worker per queue, `make run` one worker for all.
# A prefix gives tests (or a second deployment on the same Redis database) queues of their own.
QUEUE_PREFIX = env_str("CELERY_QUEUE_PREFIX", default="")
QUEUES = ("accounts", "batches", "files")
TASK_QUEUES = {
    # Account creation: the 30-minute promise.
    "confirmations.tasks.create_account": "accounts",
    "confirmations.tasks.requeue_stale_applications": "accounts",
    "confirmations.tasks.open_due_accounts": "accounts",
    # Batch confirmation on students' behalf (its accounts queue on `accounts` as bulk work).
    "desk.tasks.run_batch_confirmation": "batches",
    "desk.tasks.requeue_stale_batches": "batches",
    "desk.tasks.send_reminders": "batches",
    # Checking and committing roster files.
    "enrollment.tasks.check_roster_upload": "files",
    "enrollment.tasks.commit_roster_upload": "files",
    "enrollment.tasks.requeue_stale_uploads": "files",
    "enrollment.tasks.purge_expired_upload_files": "files",
    "desk.tasks.read_id_list": "files",
}
CELERY_TASK_ROUTES = ("config.queueing.route_task",)
CELERY_TASK_DEFAULT_QUEUE = QUEUE_PREFIX + "accounts"  # unused while every task is routed
CELERY_BEAT_SCHEDULE_FILENAME = env_str(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(VAR_DIR / "celerybeat-schedule")
)
# Keep a worker's database connection across tasks: Celery otherwise reconnects per task,
# which measured at half the cost of creating an account (bench/bench_confirmations.py).
# A connection the database dropped is found before the next task and replaced
# (config.celery's task_prerun), so an outage costs one task, not a thousand.
CELERY_DB_REUSE_MAX = 1000
CELERY_BEAT_SCHEDULE = {
    # Never lose a confirmation: applications still pending after a few minutes are queued
    # again, so a broker or worker outage delays accounts but loses none.
    "requeue-stale-applications": {
        "task": "confirmations.tasks.requeue_stale_applications",
        "schedule": 60.0,
    },
    # Waiting-period students get their account the day after the period ends (seed 03): the
    # day is stored on the application and found here, so a restart loses no account.
    "open-due-accounts": {
        "task": "confirmations.tasks.open_due_accounts",
        "schedule": crontab(minute="*/15"),
    },
    "requeue-stale-batches": {
        "task": "desk.tasks.requeue_stale_batches",
        "schedule": 60.0,
    },
    "requeue-stale-uploads": {
        "task": "enrollment.tasks.requeue_stale_uploads",
        "schedule": 60.0,
    },
    # Retention: stored roster files past UPLOAD_RETENTION_DAYS_AFTER_YEAR lose their bytes.
    "purge-expired-upload-files": {
        "task": "enrollment.tasks.purge_expired_upload_files",
        "schedule": crontab(hour=3, minute=30),
    },
}
# Beat sends a heartbeat through every queue; the worker that runs it records the time, which
# /readyz reads: a recent heartbeat proves beat, the broker and that queue's worker alive.
HEARTBEAT_SECONDS = env_int("HEARTBEAT_SECONDS", default=30)
HEARTBEAT_MAX_AGE_SECONDS = env_int("HEARTBEAT_MAX_AGE_SECONDS", default=120)
CELERY_BEAT_SCHEDULE |= {
    f"heartbeat-{queue}": {
        "task": "health.tasks.heartbeat",
        "schedule": float(HEARTBEAT_SECONDS),
        "args": (queue,),
        "options": {"expires": HEARTBEAT_MAX_AGE_SECONDS},
    }
    for queue in QUEUES
}
# A batch confirms this many students per task (one transaction), then queues the rest: a few
# seconds of work, so the heartbeat runs between chunks and a killed worker loses one chunk.
BATCH_CHUNK_SIZE = env_int("BATCH_CHUNK_SIZE", default=200)
# /readyz: a roster file waits at most this long for its check to start (accounts and batches
# are held to the policy year's promised minutes); the broker is asked at most every few seconds.
FILE_CHECK_PROMISE_MINUTES = 10
READYZ_BROKER_CACHE_SECONDS = 5
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE

# Pluggable integrations (dotted paths).
SMS_SENDER = env_str("SMS_SENDER", default="confirmations.sms.LogSender")
# Where confirmations.sms.FileOutboxSender (browser tests only) appends its messages.
SMS_OUTBOX_FILE = env_str("SMS_OUTBOX_FILE", default="")
ACCOUNT_GATEWAY = env_str("ACCOUNT_GATEWAY", default="confirmations.gateway.BuiltinGateway")

# Students identify with a one-time code; their session is short.
STUDENT_SESSION_SECONDS = 30 * 60

# bench/bench_student_flow.py only: /bench/trivial/, a view that answers "ok" through every
# middleware, the yardstick the student flow's cost per request is compared with. Off in
# production (the URL does not exist).
BENCH_TRIVIAL_VIEW = env_bool("BENCH_TRIVIAL_VIEW", default=False)

IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
IMPORT_EXPORT_USE_TRANSACTIONS = True

# Defence in depth: whatever a log line or exception report carries, full ID numbers and mobile
# numbers leave the process masked (security/logmask.py). The code itself logs none.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_personal_data": {"()": "security.logmask.MaskPersonalData"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["mask_personal_data"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
DEFAULT_EXCEPTION_REPORTER_FILTER = "security.logmask.MaskingExceptionReporterFilter"
