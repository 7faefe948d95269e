"""gunicorn under the student rush: recycled workers start at once and never all together."""

from __future__ import annotations

import runpy
from pathlib import Path

from django.conf import settings

CONFIG = Path(settings.BASE_DIR) / "config" / "gunicorn.py"


def test_a_new_worker_is_forked_from_the_loaded_project():
    assert runpy.run_path(str(CONFIG))["preload_app"] is True


def test_workers_recycle_at_points_far_apart():
    config = runpy.run_path(str(CONFIG))
    assert config["max_requests_jitter"] >= config["max_requests"] // 2
