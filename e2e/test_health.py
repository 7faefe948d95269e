"""/healthz and /readyz against the real processes: workers and beat stopped, Redis gone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from config.serve import PROCFILE
from e2e.stack import ROOT, Stack, free_port

WORKERS_AND_BEAT = ("accounts", "batches", "files", "beat")


def test_readyz_is_ready_while_the_whole_stack_runs(stack: Stack):
    body = stack.wait_until("/readyz", 200, timeout=60)
    assert body["status"] == "ready"
    assert set(body["checks"]["queues"]) == {"accounts", "batches", "files"}
    assert stack.get("/healthz") == (200, {"status": "ok"})


def test_readyz_turns_unavailable_while_the_workers_and_beat_are_stopped(stack: Stack):
    stack.wait_until("/readyz", 200, timeout=60)
    stack.pause(*WORKERS_AND_BEAT)
    try:
        body = stack.wait_until("/readyz", 503, timeout=60)
        assert body["checks"]["beat"]["ok"] is False
        assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
        assert stack.get("/healthz") == (200, {"status": "ok"})  # the site itself still answers
    finally:
        stack.resume(*WORKERS_AND_BEAT)
    stack.wait_until("/readyz", 200, timeout=90)


def test_readyz_names_the_queue_whose_worker_stopped(stack: Stack):
    stack.wait_until("/readyz", 200, timeout=60)
    stack.pause("files")
    try:
        body = stack.wait_until("/readyz", 503, timeout=60)
        assert body["checks"]["queues"]["files"]["ok"] is False
        assert body["checks"]["queues"]["accounts"]["ok"] is True
        assert body["checks"]["beat"]["ok"] is True
    finally:
        stack.resume("files")
    stack.wait_until("/readyz", 200, timeout=90)


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server to stop one")
def test_readyz_turns_unavailable_when_redis_goes_away(stack: Stack, tmp_path):
    """The stack's web process, started from the Procfile, on a Redis server that then stops."""
    redis_port, web_port = free_port(), free_port()
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    env = {**stack.env, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "PORT": str(web_port)}
    honcho = shutil.which("honcho", path=os.path.dirname(sys.executable))
    web = subprocess.Popen(
        [honcho, "start", "--procfile", str(PROCFILE), "--env", os.devnull, "web"],
        cwd=ROOT,
        env=env,
        stdout=(tmp_path / "web.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    other = Stack(base_url=f"http://127.0.0.1:{web_port}", env=env, outbox=stack.outbox,
                  log=tmp_path / "web.log")  # fmt: skip
    try:
        body = other.wait_until("/readyz", 200, timeout=60)  # the stack's workers keep beating
        assert body["checks"]["broker"]["ok"] is True
        redis_server.terminate()
        redis_server.wait(timeout=20)
        started = time.monotonic()
        body = other.wait_until("/readyz", 503, timeout=30)
        assert body["checks"]["broker"]["ok"] is False
        assert time.monotonic() - started < 15  # remembered 5 s, then a 1 s timeout
        assert other.get("/healthz") == (200, {"status": "ok"})
    finally:
        web.send_signal(signal.SIGINT)
        web.wait(timeout=30)
        redis_server.kill()
        redis_server.wait()
