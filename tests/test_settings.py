"""Settings come from the environment and fail loudly on values they cannot read."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list


def test_env_bool_reads_common_spellings(monkeypatch):
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", default=True) is False
    monkeypatch.setenv("FLAG", "Yes")
    assert env_bool("FLAG", default=False) is True


def test_env_bool_refuses_a_value_it_cannot_read(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        env_bool("FLAG", default=False)


def test_env_int_refuses_a_value_it_cannot_read(monkeypatch):
    monkeypatch.setenv("SECONDS", "30s")
    with pytest.raises(ImproperlyConfigured, match="SECONDS"):
        env_int("SECONDS", default=1)
    monkeypatch.setenv("SECONDS", " 45 ")
    assert env_int("SECONDS", default=1) == 45


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, b.example,")
    assert env_list("HOSTS", default=[]) == ["a.example", "b.example"]


def test_missing_secret_key_without_debug_stops_the_start(settings):
    import subprocess
    import sys

    env = {
        "DJANGO_DEBUG": "0",
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    completed = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
    )
    assert completed.returncode != 0
    assert "SECRET_KEY must be set" in completed.stderr


def test_deploy_check_warns_about_the_development_sms_sender(settings):
    from confirmations.checks import sms_sender_is_real

    settings.SMS_SENDER = "confirmations.sms.LogSender"
    assert [w.id for w in sms_sender_is_real()] == ["confirmations.W001"]
    settings.SMS_SENDER = "deployment.sms.Gateway"
    assert sms_sender_is_real() == []


def test_deploy_check_warns_about_the_browser_tests_outbox_sender(settings):
    from confirmations.checks import sms_sender_is_real

    settings.SMS_SENDER = "confirmations.sms.FileOutboxSender"
    assert [w.id for w in sms_sender_is_real()] == ["confirmations.W001"]


def test_outbox_sender_appends_one_line_per_message(settings, tmp_path):
    import json

    from confirmations.sms import FileOutboxSender

    settings.SMS_OUTBOX_FILE = str(tmp_path / "outbox.jsonl")
    FileOutboxSender().send("13900001234", "验证码是 123456")
    FileOutboxSender().send("13900005678", "验证码是 654321")
    lines = (tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    assert [(m["phone"], m["message"]) for m in map(json.loads, lines)] == [
        ("13900001234", "验证码是 123456"),
        ("13900005678", "验证码是 654321"),
    ]


def test_outbox_sender_refuses_to_work_without_its_file(settings):
    from confirmations.sms import FileOutboxSender

    settings.SMS_OUTBOX_FILE = ""
    with pytest.raises(ImproperlyConfigured, match="SMS_OUTBOX_FILE"):
        FileOutboxSender()


def test_production_settings_serve_content_hashed_static_files(settings):
    import secrets
    import subprocess
    import sys

    env = {
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    code = "from django.conf import settings; print(settings.STORAGES['staticfiles']['BACKEND'])"
    completed = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
    )
    assert completed.stdout.strip() == "whitenoise.storage.CompressedManifestStaticFilesStorage", (
        completed.stderr
    )
