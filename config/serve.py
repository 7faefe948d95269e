"""`make serve`: the production stack on this machine, without Docker.

Refuses to start without PostgreSQL, Redis and a real secret key; migrates; collects the
static files; then hands over to honcho, which runs every process of the Procfile (gunicorn,
a Celery worker per queue, one beat) with their output on stdout, and stops them all on Ctrl-C
or as soon as one of them exits. The browser tests (e2e/) start the stack the same way.

Run as `python -m config.serve` (it refuses before Django's settings would be read).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from config.env import secret_key_problem

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
PLAIN_HTTP_ENV = ROOT / "config" / "plain_http.env"
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}
REDIS_SCHEMES = {"redis", "rediss"}
NEW_SECRET_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments skipped."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def plain_http_requested(env: Mapping[str, str]) -> bool:
    """`make serve PLAIN_HTTP=1`: the one way to switch off what needs https."""
    return env.get("PLAIN_HTTP", "").strip().lower() in {"1", "true", "yes", "on"}


def stack_environ(base: Mapping[str, str]) -> dict[str, str]:
    """Every process's environment: `base` with debug off, and the plain-http settings where
    unset only when PLAIN_HTTP=1 asks for them: by default the stack keeps the secure settings
    (https redirect, HSTS, secure cookies), so plain http is never switched on by accident."""
    env = dict(base)
    if plain_http_requested(env):
        for name, value in read_env_file(PLAIN_HTTP_ENV).items():
            env.setdefault(name, value)
    env["DJANGO_DEBUG"] = "0"
    env.setdefault("PORT", "8000")
    # The Procfile's gunicorn and celery are the ones installed beside this Python.
    env["PATH"] = os.pathsep.join(filter(None, [str(Path(sys.executable).parent), env.get("PATH")]))
    return env


def refusals(env: Mapping[str, str]) -> list[str]:
    """What stops the production stack from starting with `env`, one sentence each."""
    problems = []
    database = env.get("DATABASE_URL", "").strip()
    if not database:
        problems.append(
            "DATABASE_URL is not set. The production stack runs on PostgreSQL, e.g. "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal"
        )
    elif urlsplit(database).scheme not in POSTGRES_SCHEMES:
        problems.append(
            f"DATABASE_URL points at {urlsplit(database).scheme or 'an unknown database'}, "
            "not PostgreSQL: the web processes and the workers write the same database at once, "
            "which SQLite cannot do safely."
        )
    broker = env.get("REDIS_URL", "").strip()
    if not broker:
        problems.append(
            "REDIS_URL is not set. The workers take their tasks from Redis, e.g. "
            "REDIS_URL=redis://127.0.0.1:6379/0"
        )
    elif urlsplit(broker).scheme not in REDIS_SCHEMES:
        problems.append("REDIS_URL must be a redis:// (or rediss://) URL.")
    secret_key = env.get("SECRET_KEY", "").strip()
    if not secret_key:
        problems.append(f"SECRET_KEY is not set. Make one with: {NEW_SECRET_KEY}")
    elif problem := secret_key_problem(secret_key):
        # The same rule the settings apply when debug is off, said before anything starts.
        problems.append(
            f"SECRET_KEY is not fit for production: {problem}. Make one with: {NEW_SECRET_KEY}"
        )
    return problems


def manage(*command: str, env: Mapping[str, str]) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *command], env=env, check=True)


def main() -> int:
    env = stack_environ(os.environ)
    problems = refusals(env)
    if problems:
        print("make serve: the production stack cannot start:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    os.chdir(ROOT)  # the Procfile's paths are relative to the project
    manage("migrate", "--noinput", env=env)
    manage("collectstatic", "--noinput", "--verbosity", "0", env=env)
    honcho = shutil.which("honcho", path=str(Path(sys.executable).parent)) or "honcho"
    print(f"make serve: http://{env.get('HOST', '127.0.0.1')}:{env['PORT']}/  (Ctrl-C stops it)")
    if plain_http_requested(env):
        print("make serve: PLAIN_HTTP=1 — https redirect, HSTS and secure cookies are off")
    else:
        print(
            "make serve: https settings on (behind a TLS proxy); for plain http on this "
            "machine only: make serve PLAIN_HTTP=1"
        )
    sys.stdout.flush()
    # honcho reads .env by default and lets it override; /dev/null keeps the environment
    # exactly the one checked above.
    os.execve(
        honcho,
        [
            honcho,
            "start",
            "--procfile",
            str(PROCFILE),
            "--app-root",
            str(ROOT),
            "--env",
            os.devnull,
        ],
        env,
    )
    return 0  # not reached: honcho took over this process


if __name__ == "__main__":
    sys.exit(main())
