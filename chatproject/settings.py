"""The one settings module: every value comes from the environment through chatproject.env.

With nothing set the project runs embedded (SQLite file, in-memory channel layer, one
process). DATABASE_URL and REDIS_URL switch it to PostgreSQL and Redis for production
and for any number of daphne processes.
"""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.utils.csp import CSP

from chatproject.env import Env, EnvError, mime_types, origin_of, parse_networks, parse_rate, parse_window

env = Env()
BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core -----------------------------------------------------------------------------
DEBUG = env.boolean("DEBUG", False)
PORT = env.integer("PORT", 3010, minimum=1, maximum=65535)


def development_jwt_secret(path: Path) -> str:
    """The JWT secret of a DEBUG run without JWT_SECRET: random, made on the first start and kept in
    `path` (mode 0600, git-ignored), so tokens survive a restart yet none can be forged from the source.
    """
    import os
    import secrets

    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(draft, path)  # atomic and never overwrites: processes starting together agree
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise EnvError(f"{path} holds no usable JWT secret (32+ characters); delete it to get a new one")
    return secret


JWT_SECRET = env.string("JWT_SECRET")
if not JWT_SECRET:
    if not DEBUG:
        raise EnvError("JWT_SECRET is required when DEBUG is off (set JWT_SECRET, or DEBUG=true for local use)")
    JWT_SECRET = development_jwt_secret(BASE_DIR / "data" / "dev-jwt-secret")
elif len(JWT_SECRET) < 32 and not DEBUG:
    raise EnvError("JWT_SECRET must be at least 32 characters when DEBUG is off")

# Django's own signing key (sessions, admin, CSRF). It is derived from JWT_SECRET unless
# DJANGO_SECRET_KEY is given, so a deployment has one secret to manage, yet a leaked
# Django signature never equals a JWT signature.
SECRET_KEY = env.string("DJANGO_SECRET_KEY") or hashlib.sha256(f"django:{JWT_SECRET}".encode()).hexdigest()

ALLOWED_HOSTS = env.items("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
FRONTEND_ORIGINS = [origin_of(url, "FRONTEND_URL") for url in env.items("FRONTEND_URL", [])]

# --- Applications ---------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "accounts.apps.ChatAdminConfig",  # django.contrib.admin, its login limited (accounts/admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "channels",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by us (no CDN)
    "core",
    "accounts",
    "chat",
]

MIDDLEWARE = [
    "core.metrics.RequestMetricsMiddleware",  # outermost: times everything, 413s included
    "core.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",  # SECURE_CSP, below
    "core.middleware.StaticFilesMiddleware",  # WhiteNoise: daphne serves /static/ (the web client) itself
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatproject.urls"
ASGI_APPLICATION = "chatproject.asgi.application"
WSGI_APPLICATION = None
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
            ]
        },
    }
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env.string("DATABASE_URL")
if DATABASE_URL:
    try:
        _db: dict[str, Any] = dict(dj_database_url.parse(DATABASE_URL))
    except Exception as exc:  # dj-database-url raises several types for bad URLs
        raise EnvError(f"DATABASE_URL is not a database URL ({exc})") from exc
    if "postgresql" in _db["ENGINE"]:
        from core.db import check_pooled_connection

        # psycopg 3 with Django's connection pool; the pool needs CONN_MAX_AGE = 0.
        _db["CONN_MAX_AGE"] = 0
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.integer("DB_POOL_MIN", 2, minimum=0),
            "max_size": env.integer("DB_POOL_MAX", 20),
            "timeout": 10,
            # A checkout first runs an empty query (unless it was handed out a moment ago),
            # and a dead connection (after a PostgreSQL restart every pooled one is) is replaced.
            "check": check_pooled_connection,
        }
        if env.boolean("DB_PREPARED_STATEMENTS", True):
            # Parameters bound by the server let psycopg prepare a statement on its fifth run on a
            # connection, so a send batch's two constant statements skip planning, most of their
            # PostgreSQL time at light load (docs/benchmarks.md, "prepared statements"). Off for a
            # pooler that cannot keep prepared statements (PgBouncer's transaction mode before 1.21).
            _db["OPTIONS"]["server_side_binding"] = True
            _db["OPTIONS"]["prepare_threshold"] = 5
else:
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE_DIR / "db.sqlite3")}
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE avoids lock-upgrade deadlocks
    # between threads that read and then write in one transaction.
    _db.setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DATABASES = {"default": _db}

# --- Channel layer and Redis ----------------------------------------------------------
REDIS_URL = env.string("REDIS_URL")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise EnvError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {REDIS_URL!r}")
REDIS_MAX_CONNECTIONS = env.integer("REDIS_MAX_CONNECTIONS", 1000)
# Namespaces every Redis key and channel, so several deployments (or test runs) can share one Redis.
CHANNEL_PREFIX = env.string("CHANNEL_PREFIX", "chat")
CHANNEL_LAYERS: dict[str, dict[str, Any]]
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis' RedisPubSubChannelLayer, with specific channels kept in-process
            # (no Redis SUBSCRIBE per socket) and a smaller inbox per socket: core/layers.py.
            "BACKEND": "core.layers.ChatChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "max_connections": REDIS_MAX_CONNECTIONS}],
                "prefix": CHANNEL_PREFIX,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 10000}}}

# --- Auth, JWT ------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Argon2 (argon2-cffi) hashes new passwords. The rest of Django's default list stays, so older
# hashes (PBKDF2) still verify, and Django re-hashes them with Argon2 at the user's next login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# Hashes run on this many low-priority worker threads per process, with no database connection
# held; one still queued after PASSWORD_HASH_WAIT_SECONDS is answered 429 (accounts/passwords.py).
# Each running Argon2 hash takes 100 MiB, so memory grows by that much per worker.
PASSWORD_HASH_CONCURRENCY = env.integer(
    "PASSWORD_HASH_CONCURRENCY", getattr(os, "process_cpu_count", os.cpu_count)() or 1, maximum=256
)
PASSWORD_HASH_WAIT_SECONDS = env.integer("PASSWORD_HASH_WAIT_SECONDS", 30, maximum=3600)
AUTHENTICATION_BACKENDS = ["accounts.backends.ModelBackend"]

# Brute-force limits (accounts/limits.py), in the shared store so they hold across processes:
# failed logins (REST and /admin/login/) per username and per client address, sign-ups per address.
LOGIN_FAILURES_PER_USERNAME = parse_rate(
    "LOGIN_FAILURES_PER_USERNAME", env.string("LOGIN_FAILURES_PER_USERNAME", "10/15m")
)
LOGIN_FAILURES_PER_ADDRESS = parse_rate(
    "LOGIN_FAILURES_PER_ADDRESS", env.string("LOGIN_FAILURES_PER_ADDRESS", "50/15m")
)
SIGNUP_RATE_LIMIT = parse_rate("SIGNUP_RATE_LIMIT", env.string("SIGNUP_RATE_LIMIT", "10/h"))
# Proxies whose X-Forwarded-For is believed (core/clientip.py); none: the socket peer is the client.
TRUSTED_PROXIES = parse_networks("TRUSTED_PROXIES", env.items("TRUSTED_PROXIES", []))

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.integer("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.integer("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SECRET,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    # Changing a password revokes every token issued before it.
    "CHECK_REVOKE_TOKEN": True,
}

_renderers = ["core.rest.JSONRenderer"]
if DEBUG:
    _renderers.append("rest_framework.renderers.BrowsableAPIRenderer")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.auth.BearerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": _renderers,
    "DEFAULT_PARSER_CLASSES": ["core.rest.JSONParser"],
    "EXCEPTION_HANDLER": "core.rest.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# --- OpenAPI (drf-spectacular): /api/schema/ and Swagger UI at /api/docs/ ---------------
SPECTACULAR_SETTINGS = {
    "TITLE": "django-realtime-chat REST API",
    "DESCRIPTION": (
        "One-to-one chat over REST. Every response is an envelope: "
        "`{success: true, message?, data}` or `{success: false, message, errors?}`. "
        "The WebSocket protocol is described in /api/asyncapi.yaml and docs/websocket.md."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # `success` is the constant true (success envelopes) or false (failures).
    "ENUM_NAME_OVERRIDES": {"SuccessTrue": [(True, True)], "SuccessFalse": [(False, False)]},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.openapi.postprocess",
    ],
    "TAGS": [{"name": "auth", "description": "Accounts and tokens"}, {"name": "chat", "description": "Messages"}],
}

# --- Chat limits ----------------------------------------------------------------------
MESSAGE_RATE_LIMIT = parse_rate("MESSAGE_RATE_LIMIT", env.string("MESSAGE_RATE_LIMIT", "30/10s"))
TYPING_INTERVAL_SECONDS = 1.0
# user_joined / user_left: at most one of each per user and room in this many seconds.
ROOM_EVENT_INTERVAL_SECONDS = 5.0
# A user whose last socket closed is announced offline this long after, unless a socket of theirs
# came back meanwhile (a reconnect is then no offline-online pair); 0 announces at once.
PRESENCE_GRACE_SECONDS = env.integer("PRESENCE_GRACE_SECONDS", 5, minimum=0, maximum=300)
# Open sockets per user on all processes together; the next one is closed with 4429.
MAX_SOCKETS_PER_USER = env.integer("MAX_SOCKETS_PER_USER", 20, maximum=10000)
# How long after sending its sender may edit a message: seconds, None (unlimited) or 0 (edits off).
MESSAGE_EDIT_WINDOW_SECONDS = parse_window(
    "MESSAGE_EDIT_WINDOW_SECONDS", env.string("MESSAGE_EDIT_WINDOW_SECONDS", "900")
)
# A socket's presence entries lapse this long after its process stops refreshing them (a process
# killed without running disconnect); open sockets refresh every third of it.
PRESENCE_TTL_SECONDS = env.integer("PRESENCE_TTL_SECONDS", 60, minimum=3, maximum=3600)
# Group commit (chat/ws/batches.py): at most this many sends per batch, and this many batches of
# a process being stored at once.
SEND_BATCH_MAX = env.integer("SEND_BATCH_MAX", 64, maximum=1000)
SEND_BATCHES_IN_FLIGHT = env.integer("SEND_BATCHES_IN_FLIGHT", 1, maximum=64)
# Delivery confirmations (mark_delivered) of a process are stored together this long after the
# first of a burst (chat/ws/receipts.py): one statement and one messages_delivered per burst.
DELIVERY_RECEIPT_WINDOW_MS = env.integer("DELIVERY_RECEIPT_WINDOW_MS", 100, minimum=0, maximum=5000)
WS_MAX_FRAME_BYTES = 64 * 1024
WS_AUTH_TIMEOUT_SECONDS = 10.0
# A REST body larger than this is refused with 413 before it is parsed.
MAX_BODY_BYTES = 64 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES

# --- Attachments (POST /api/chat/attachments; chat/services/attachments.py) ---------------
# The types an upload may be, as sniffed from its bytes (never the client's word). SVG is left out
# by default: it can carry script.
ATTACHMENT_TYPES = mime_types(
    "ATTACHMENT_TYPES",
    env.items(
        "ATTACHMENT_TYPES",
        ["image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf", "text/plain"],
    ),
)
ATTACHMENT_MAX_BYTES = env.integer("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, maximum=1024**3)
# An upload's request is the file plus the multipart boundary and part headers around it: the body
# limit of the upload route (core.middleware.ROUTE_BODY_LIMITS) allows that much more.
ATTACHMENT_REQUEST_MAX_BYTES = ATTACHMENT_MAX_BYTES + 16 * 1024
ATTACHMENT_URL_TTL_SECONDS = env.integer("ATTACHMENT_URL_TTL_SECONDS", 3600, minimum=10, maximum=7 * 24 * 3600)
ATTACHMENT_UPLOAD_RATE_LIMIT = parse_rate(
    "ATTACHMENT_UPLOAD_RATE_LIMIT", env.string("ATTACHMENT_UPLOAD_RATE_LIMIT", "30/m")
)
# Uploads that are in no message this long after they were made are removed by purge_deleted.
ATTACHMENT_UNSENT_HOURS = 24
MEDIA_ROOT = env.string("MEDIA_ROOT", str(BASE_DIR / "data" / "media"))
# Request bodies and uploaded files larger than this go to a temporary file, not memory: only
# uploads are ever that large (every other route refuses more than MAX_BODY_BYTES).
FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
S3_BUCKET = env.string("S3_BUCKET")
S3_ENDPOINT_URL = env.string("S3_ENDPOINT_URL")
S3_ACCESS_KEY_ID = env.string("S3_ACCESS_KEY_ID")
S3_SECRET_ACCESS_KEY = env.string("S3_SECRET_ACCESS_KEY")
S3_REGION = env.string("S3_REGION")
if not S3_BUCKET and (S3_ENDPOINT_URL or S3_ACCESS_KEY_ID or S3_SECRET_ACCESS_KEY or S3_REGION):
    raise EnvError("S3_BUCKET is required when any other S3_* variable is set")
if bool(S3_ACCESS_KEY_ID) != bool(S3_SECRET_ACCESS_KEY):
    raise EnvError("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together: set both or neither")
if S3_ENDPOINT_URL and not S3_ENDPOINT_URL.startswith(("http://", "https://")):
    raise EnvError(f"S3_ENDPOINT_URL must be an http(s) URL, got {S3_ENDPOINT_URL!r}")
if S3_BUCKET:
    _attachment_storage: dict[str, Any] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": S3_ENDPOINT_URL or None,
            "access_key": S3_ACCESS_KEY_ID or None,
            "secret_key": S3_SECRET_ACCESS_KEY or None,
            "region_name": S3_REGION or None,
            # Links are presigned GETs that expire with the app's own links.
            "querystring_auth": True,
            "querystring_expire": ATTACHMENT_URL_TTL_SECONDS,
            "signature_version": "s3v4",
            "file_overwrite": False,
            "default_acl": None,
            # Path-style addressing works with every S3-compatible server (MinIO, moto, Ceph).
            "addressing_style": "path" if S3_ENDPOINT_URL else None,
        },
    }
else:
    _attachment_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "file_permissions_mode": 0o600, "directory_permissions_mode": 0o700},
    }
STORAGES = {
    "default": _attachment_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Operations -----------------------------------------------------------------------
# With METRICS_TOKEN set, /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = env.string("METRICS_TOKEN")
if METRICS_TOKEN and (len(METRICS_TOKEN) < 16 or any(c.isspace() or not c.isprintable() for c in METRICS_TOKEN)):
    raise EnvError("METRICS_TOKEN must be at least 16 printable characters without spaces")

# --- Start-up behaviour (manage.py serve) ---------------------------------------------
DB_SYNC = env.boolean("DB_SYNC", False)
DB_SEED = env.boolean("DB_SEED", False)

# --- HTTP security --------------------------------------------------------------------
CORS_ALLOWED_ORIGINS = FRONTEND_ORIGINS
CORS_ALLOW_CREDENTIALS = False
CSRF_TRUSTED_ORIGINS = FRONTEND_ORIGINS
SECURE_CONTENT_TYPE_NOSNIFF = True
# Django's CSP middleware sends this on every response that sets no policy of its own: Swagger UI
# at /api/docs/ (its init script a file of its own, chatproject/urls.py) and the admin run
# under it; the web client's page sets a stricter one (chat/web/views.py). Scripts only from
# here; inline styles allowed, as both pages' markup has them and a style cannot run code.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.boolean("BEHIND_TLS_PROXY", False) else None
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("SECURE_HSTS_INCLUDE_SUBDOMAINS", SECURE_HSTS_SECONDS > 0)
SECURE_HSTS_PRELOAD = env.boolean("SECURE_HSTS_PRELOAD", SECURE_HSTS_SECONDS > 0)

# --- Static files, i18n ---------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Serve straight from each app's static/ folder, so no collectstatic step is needed.
WHITENOISE_USE_FINDERS = True
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging: one line per record, never a token or a message body ----------------------
LOG_LEVEL = env.string("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise EnvError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "core.logging.RedactSecretsFilter"}},
    "formatters": {"json": {"()": "core.logging.JSONFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING"},
        # With DEBUG on, Django logs every SQL statement with its parameters at DEBUG: message
        # bodies and refresh tokens (token_blacklist stores them). Never below INFO.
        "django.db.backends": {"level": "INFO"},
    },
}
