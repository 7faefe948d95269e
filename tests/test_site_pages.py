"""Site-wide pages (issue 13): the favicon and the error pages in Chinese (defect 14), and names
shown the same way on every page (defect 8)."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


def test_favicon_is_served_not_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/vnd.microsoft.icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # the ICO header


def test_unknown_page_says_so_in_chinese(client):
    response = client.get("/student/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "页面不存在" in html and html.count("<h1") == 1 and "<main" in html


def test_forbidden_page_says_so_in_chinese(client, filer_1012):
    client.force_login(filer_1012)
    response = client.get(reverse("audit:entries"))
    html = response.content.decode()
    assert response.status_code == 403 and "无权访问" in html and "返回工作台" in html


def test_csrf_failure_says_what_to_do_in_chinese(registry):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("student:identify"), {"name": "张三", "id_number": "1"})
    html = response.content.decode()
    assert response.status_code == 403
    assert "请刷新后重试" in html and "CSRF" not in html


def test_server_error_page_is_chinese_and_needs_no_request_context():
    response = server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500 and "系统繁忙" in html and html.count("<h1") == 1


def test_main_campus_named_with_its_mark_is_not_marked_twice(registry, filer_1012, client):
    """Defect 8: "闵行校区（总校）（总校）" on the dashboard."""
    main = registry["campuses"]["101200"]
    main.name = "闵行校区（总校）"
    main.save()
    client.force_login(filer_1012)
    html = client.get(reverse("enrollment:dashboard")).content.decode()
    assert "闵行校区（总校）" in html and "（总校）（总校）" not in html


def test_main_campus_without_the_mark_in_its_name_gets_it(registry):
    assert registry["campuses"]["101200"].display_name == "闵行校区（总校）"
    assert registry["campuses"]["101201"].display_name == registry["campuses"]["101201"].name
