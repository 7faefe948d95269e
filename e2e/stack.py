"""The production stack for the browser tests, started the way `make serve` starts it.

`python -m config.serve` (checks, migrate, collectstatic, honcho, the Procfile) with
DJANGO_DEBUG=0, on a free port, with a PostgreSQL database and a Redis database number of the
session's own, and the SMS outbox file from which the tests read one-time codes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import redis

from config.serve import refusals, stack_environ

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
REDIS_CLAIM_KEY = "portal-e2e:claimed-by"
STARTED = re.compile(r"\| (\w+)\.1 started \(pid=(\d+)\)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=path, query=""))


class Database:
    """A PostgreSQL database of this session's own, on the server of DATABASE_URL."""

    def __init__(self, server_url: str) -> None:
        self.admin_url = _with_path(server_url, "/postgres")
        self.name = f"portal_e2e_{os.getpid()}_{secrets.token_hex(3)}"
        self.url = _with_path(server_url, f"/{self.name}")
        self._execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _execute(self, statement: str) -> None:
        connection = psycopg2.connect(self.admin_url)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()


class RedisDatabase:
    """An empty Redis database number claimed for this session (1–15 of REDIS_URL's server)."""

    def __init__(self, server_url: str) -> None:
        for number in range(1, 16):
            url = _with_path(server_url, f"/{number}")
            client = redis.Redis.from_url(url)
            if client.set(REDIS_CLAIM_KEY, os.getpid(), nx=True, ex=4 * 3600):
                if client.dbsize() == 1:
                    self.url, self.client = url, client
                    return
                client.delete(REDIS_CLAIM_KEY)  # someone's data is there: not ours
        raise RuntimeError(f"no empty Redis database on {server_url} (1–15 are all in use)")

    def release(self) -> None:
        self.client.flushdb()


@dataclass
class Stack:
    base_url: str
    env: dict[str, str]
    outbox: Path
    log: Path
    process: subprocess.Popen | None = None
    paused: set[str] = field(default_factory=set)
    seed: str = ""  # what seed_demo printed

    def manage(self, *command: str) -> str:
        completed = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if completed.returncode:
            raise RuntimeError(f"manage.py {command[0]} failed:\n{completed.stderr[-3000:]}")
        return completed.stdout

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "config.serve"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def get(self, path: str, *, timeout: float = 5) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def wait_until(self, path: str, status: int, *, timeout: float) -> dict:
        """Poll a health endpoint until it answers `status`; its last body either way."""
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            self.raise_if_stopped()
            try:
                answered, body = self.get(path)
            except (OSError, ValueError):
                answered = None
            if answered == status:
                return body
            time.sleep(0.5)
        raise AssertionError(
            f"{path} did not answer {status} in {timeout:.0f} s: {body}\n{self.tail()}"
        )

    def pids(self) -> dict[str, int]:
        """The process group of each Procfile process, as honcho reported starting them."""
        return {
            name: int(pid) for name, pid in STARTED.findall(self.log.read_text(errors="replace"))
        }

    def pause(self, *names: str) -> None:
        """Stop processes (SIGSTOP to their whole group): frozen, as a hung host would be."""
        for name in names:
            os.killpg(self.pids()[name], signal.SIGSTOP)
            self.paused.add(name)

    def resume(self, *names: str) -> None:
        for name in names:
            os.killpg(self.pids()[name], signal.SIGCONT)
            self.paused.discard(name)

    def raise_if_stopped(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the stack exited ({self.process.returncode}):\n{self.tail()}")

    def stop(self) -> None:
        """Ctrl-C, as on `make serve`; every process of the stack must be gone soon after."""
        if self.process is None or self.process.poll() is not None:
            return
        self.resume(*list(self.paused))
        groups = list(self.pids().values())
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        deadline = time.monotonic() + 20  # gunicorn and Celery finish what they were doing
        while (left := _running_in(groups)) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in {pgid for _, pgid, _ in left}:
            os.killpg(pid, signal.SIGKILL)
        if left:
            raise AssertionError(f"Ctrl-C left processes running: {left}\n{self.tail()}")

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _running_in(groups: list[int]) -> list[tuple[int, int, str]]:
    """(pid, group, command) of the processes still running in these process groups.

    Zombies do not count: exited, they wait for an init process to collect them.
    """
    running = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        command = text[text.index("(") + 1 : text.rindex(")")]
        state, _, group = text[text.rindex(")") + 2 :].split()[:3]
        if int(group) in groups and state != "Z":
            running.append((int(stat.parent.name), int(group), command))
    return running


def stack_env(*, database_url: str, redis_url: str, folder: Path, port: int) -> dict[str, str]:
    """The environment `make serve` would get, with this session's database, broker and files."""
    env = stack_environ({**os.environ, "PLAIN_HTTP": "1"})  # localhost: plain http, explicitly
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY=secrets.token_urlsafe(64),
        HOST="127.0.0.1",
        PORT=str(port),
        ALLOWED_HOSTS="127.0.0.1",
        CELERY_QUEUE_PREFIX="",
        CELERY_TASK_ALWAYS_EAGER="0",
        STATIC_ROOT=str(folder / "static"),
        CELERY_BEAT_SCHEDULE_FILENAME=str(folder / "celerybeat-schedule"),
        SMS_SENDER="confirmations.sms.FileOutboxSender",
        SMS_OUTBOX_FILE=str(folder / "sms-outbox.jsonl"),
        # Heartbeats often, and stale soon, so that a stopped worker shows within seconds.
        HEARTBEAT_SECONDS="1",
        HEARTBEAT_MAX_AGE_SECONDS="10",
        LOG_LEVEL="INFO",
    )
    problems = refusals(env)
    assert not problems, problems
    return env


def postgres_server() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if urlsplit(url).scheme in {"postgres", "postgresql"} else DEFAULT_POSTGRES


def redis_server() -> str:
    url = os.environ.get("REDIS_URL", "")
    return url if urlsplit(url).scheme in {"redis", "rediss"} else DEFAULT_REDIS
