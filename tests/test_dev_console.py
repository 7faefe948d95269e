"""`make run`'s console (issue 13): one-time codes stand out, reminder texts do not bury them."""

from __future__ import annotations

import logging

from confirmations.sms import LogSender


def test_one_time_code_is_a_framed_line_of_its_own(caplog):
    caplog.set_level(logging.INFO, logger="confirmations.sms")
    LogSender().send(
        "13812345678", "【医保新生参保】您的验证码是 123456，5 分钟内有效。请勿告诉他人。"
    )
    lines = caplog.records[-1].getMessage().splitlines()
    assert any(line.strip().startswith("验证码 123456") for line in lines)
    assert lines[1].startswith("=") and lines[-1].startswith("=")
    assert "13812345678" not in caplog.text


def test_reminder_is_one_short_line_without_the_students_name(caplog):
    caplog.set_level(logging.INFO, logger="confirmations.sms")
    LogSender().send(
        "13812345678",
        "【医保新生参保】张小明同学，上海某某大学提醒您尽快在随申办“居民医保参保确认（新生）”完成参保确认。",
    )
    message = caplog.records[-1].getMessage()
    assert "\n" not in message and "张小明" not in message and len(message) < 60
