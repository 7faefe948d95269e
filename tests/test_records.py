"""Single records: list, search, add and edit through the upload's rules, batch delete — in scope."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from enrollment.importer import roster_import
from enrollment.models import StudentRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(school_1012, filer_1012, year, rows_1012, workbook):
    rows = rows_1012(60)
    roster_import(
        content=workbook(rows), school=school_1012, year=year, user=filer_1012, commit=True
    )
    return rows


def form_data(row: dict) -> dict:
    from enrollment import rules

    return {spec.attribute: row[spec.header] for spec in rules.FIELDS}


def test_list_is_paginated_and_shows_the_filers_records(client, filer_1012, stored):
    client.force_login(filer_1012)
    page = client.get(reverse("enrollment:record_list")).context["page"]
    assert page.paginator.count == 60 and len(page.object_list) == 50


def search(client, **data):
    """Search as the page does: POST the form, follow to the `?s=` token page."""
    return client.post(reverse("enrollment:record_list"), data, follow=True)


def test_pagination_keeps_the_search(client, filer_1012, stored):
    client.force_login(filer_1012)
    response = search(client, q="", school="")
    token = response.request["QUERY_STRING"]
    assert token.startswith("s=")
    assert f"?{token}&amp;page=2" in response.content.decode()
    second = client.get(reverse("enrollment:record_list") + f"?{token}&page=2")
    assert second.context["page"].number == 2 and second.context["form"].is_bound


def test_search_by_id_number_never_puts_it_in_the_url(client, filer_1012, stored):
    client.force_login(filer_1012)
    id_number = stored[7]["证件号码"]
    response = search(client, q=id_number)
    assert response.context["page"].paginator.count == 1
    ((url, _),) = response.redirect_chain
    assert id_number not in url
    links = re.findall(r'(?:href|action)="([^"]*)"', response.content.decode())
    assert links and not [link for link in links if id_number in link]


def test_an_id_number_in_the_query_string_is_ignored(client, filer_1012, stored):
    client.force_login(filer_1012)
    page = client.get(reverse("enrollment:record_list"), {"q": stored[7]["证件号码"]}).context[
        "page"
    ]
    assert page.paginator.count == 60  # the whole list: `q` is only taken by POST


def test_a_search_token_belongs_to_the_session_that_made_it(client, filer_1012, stored):
    from django.test import Client

    client.force_login(filer_1012)
    token = search(client, q=stored[7]["证件号码"]).request["QUERY_STRING"]
    other = Client()
    other.force_login(filer_1012)
    response = other.get(reverse("enrollment:record_list") + f"?{token}")
    assert response.context["expired"] and response.context["page"].paginator.count == 60


@pytest.mark.parametrize("field", ["姓名", "证件号码", "学号"])
def test_search_finds_by_name_id_number_or_student_number(client, filer_1012, stored, field):
    client.force_login(filer_1012)
    target = stored[7]
    page = search(client, q=target[field]).context["page"]
    assert target["证件号码"] in [record.id_number for record in page.object_list]
    if field != "姓名":
        assert page.paginator.count == 1


def test_search_finds_a_record_by_the_last_digits_of_its_id_number(client, filer_1012, stored):
    client.force_login(filer_1012)
    target = stored[7]["证件号码"]
    page = search(client, q=target[-6:]).context["page"]
    assert target in [record.id_number for record in page.object_list]
    assert all(target[-6:] in record.id_number for record in page.object_list)


def test_search_finds_a_record_by_part_of_its_student_number(client, filer_1012, stored):
    client.force_login(filer_1012)
    target = stored[7]["学号"]
    page = search(client, q=target[2:-1]).context["page"]
    assert target in [record.student_number for record in page.object_list]


def test_search_by_fewer_than_four_digits_matches_only_whole_numbers(client, filer_1012, stored):
    client.force_login(filer_1012)
    assert search(client, q=stored[7]["学号"][-3:]).context["page"].paginator.count == 0


def test_search_by_id_number_accepts_lower_case_x(client, filer_1012, registry, year):
    from enrollment.demo import make_id_number

    client.force_login(filer_1012)
    import datetime as dt

    # find a birth/sequence whose check character is X
    for sequence in range(200):
        id_number = make_id_number("310104", dt.date(year - 18, 5, 1), sequence, male=True)
        if id_number.endswith("X"):
            break
    StudentRecord.objects.create(
        school=registry["schools"]["1012"],
        campus=registry["campuses"]["101200"],
        enrollment_year=year,
        name="测试",
        id_type="1",
        id_number=id_number,
        origin="本市",
        birth_date=dt.date(year - 18, 5, 1),
        ethnicity="汉族",
        sex="1",
        college="c",
        major="m",
        student_number="S1",
        education="1",
        campus_code="101200",
        registration_date=dt.date(year, 9, 1),
        status="00",
        phone="13900000000",
        willingness="1",
    )
    page = search(client, q=id_number.lower()).context["page"]
    assert page.paginator.count == 1


def test_handler_of_another_district_sees_none_of_1012s_records(client, handler_pudong, stored):
    client.force_login(handler_pudong)
    assert client.get(reverse("enrollment:record_list")).context["page"].paginator.count == 0


def test_branch_district_handler_sees_only_the_branch_records(client, handler_xuhui, stored):
    client.force_login(handler_xuhui)
    page = client.get(reverse("enrollment:record_list")).context["page"]
    assert page.paginator.count == 30
    assert {record.campus_code for record in page.object_list} == {"101201"}


def test_add_record_through_the_same_rules(client, filer_1012, year, rows_1012):
    client.force_login(filer_1012)
    row = rows_1012(1)[0]
    response = client.post(reverse("enrollment:record_create"), form_data(row))
    assert response.status_code == 302
    record = StudentRecord.objects.get()
    assert (record.name, record.school.code, record.enrollment_year, record.created_by) == (
        row["姓名"],
        "1012",
        year,
        filer_1012,
    )


def test_add_record_shows_rule_errors_beside_fields(client, filer_1012, rows_1012):
    client.force_login(filer_1012)
    data = form_data(rows_1012(1)[0])
    data["id_number"] = data["id_number"][:-1] + ("1" if data["id_number"][-1] != "1" else "2")
    response = client.post(reverse("enrollment:record_create"), data)
    assert response.status_code == 200
    assert "校验位" in response.context["form"].errors["id_number"][0]
    assert "请改正以下问题" in response.content.decode()
    assert StudentRecord.objects.count() == 0


def test_add_record_for_an_existing_id_is_refused(client, filer_1012, stored):
    client.force_login(filer_1012)
    data = form_data(stored[0])
    data["student_number"] = "NEW-1"
    response = client.post(reverse("enrollment:record_create"), data)
    assert "已有该证件号码的记录" in response.context["form"].errors["id_number"][0]


def test_add_record_for_a_campus_out_of_scope_is_refused(
    client, handler_xuhui, filer_1012, rows_1012
):
    client.force_login(handler_xuhui)
    data = form_data(rows_1012(1)[0])
    data["campus_code"] = "101200"
    response = client.post(reverse("enrollment:record_create"), data)
    assert response.status_code == 200
    assert StudentRecord.objects.count() == 0


def test_edit_record_saves_changes(client, filer_1012, stored):
    client.force_login(filer_1012)
    record = StudentRecord.objects.get(id_number=stored[0]["证件号码"])
    data = form_data(stored[0])
    data["major"] = "数据科学"
    response = client.post(reverse("enrollment:record_edit", args=[record.pk]), data)
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.major == "数据科学" and record.updated_by == filer_1012


def test_edit_record_to_another_students_number_is_refused(client, filer_1012, stored):
    client.force_login(filer_1012)
    record = StudentRecord.objects.get(id_number=stored[0]["证件号码"])
    data = form_data(stored[0])
    data["student_number"] = stored[1]["学号"]
    response = client.post(reverse("enrollment:record_edit", args=[record.pk]), data)
    assert "学号已被" in response.context["form"].errors["student_number"][0]


def test_edit_page_of_a_record_out_of_scope_is_not_found(client, handler_pudong, stored):
    client.force_login(handler_pudong)
    record = StudentRecord.objects.first()
    assert client.get(reverse("enrollment:record_edit", args=[record.pk])).status_code == 404


def test_batch_delete_asks_for_confirmation_first(client, filer_1012, stored):
    client.force_login(filer_1012)
    ids = list(StudentRecord.objects.values_list("pk", flat=True)[:3])
    response = client.post(reverse("enrollment:record_delete"), {"ids": ids})
    assert response.status_code == 200 and "确认删除 3 条记录" in response.content.decode()
    assert StudentRecord.objects.count() == 60


def test_batch_delete_removes_selected_records(client, filer_1012, stored):
    client.force_login(filer_1012)
    ids = list(StudentRecord.objects.values_list("pk", flat=True)[:3])
    client.post(reverse("enrollment:record_delete"), {"ids": ids, "confirm": "yes"})
    assert StudentRecord.objects.count() == 57
    assert not StudentRecord.objects.filter(pk__in=ids).exists()


def test_batch_delete_ignores_records_out_of_scope(client, handler_xuhui, stored):
    client.force_login(handler_xuhui)
    out_of_scope = list(
        StudentRecord.objects.filter(campus_code="101200").values_list("pk", flat=True)[:2]
    )
    in_scope = list(
        StudentRecord.objects.filter(campus_code="101201").values_list("pk", flat=True)[:1]
    )
    client.post(
        reverse("enrollment:record_delete"), {"ids": out_of_scope + in_scope, "confirm": "yes"}
    )
    assert StudentRecord.objects.filter(pk__in=out_of_scope).count() == 2
    assert not StudentRecord.objects.filter(pk__in=in_scope).exists()


def test_delete_with_malformed_ids_is_not_a_server_error(client, filer_1012, stored):
    client.force_login(filer_1012)
    response = client.post(
        reverse("enrollment:record_delete"),
        {"ids": ["²", "9" * 40], "next": "https://evil.example/"},
    )
    assert response.status_code == 302 and response.url == reverse("enrollment:record_list")
    assert StudentRecord.objects.count() == 60


def test_add_record_of_a_person_on_a_campus_out_of_scope_reveals_nothing(
    client, handler_xuhui, filer_1012, stored
):
    client.force_login(handler_xuhui)
    on_main_campus = next(row for row in stored if row["总分校编码"] == "101200")
    data = form_data(dict(on_main_campus, 总分校编码="101201", 学号="NEW-9"))
    response = client.post(reverse("enrollment:record_create"), data)
    assert "无权修改" in response.context["form"].errors["id_number"][0]
    assert StudentRecord.objects.get(id_number=on_main_campus["证件号码"]).campus_code == "101200"


@pytest.mark.parametrize("part", ["张伟", "伟", "张", "伟明"])
def test_a_name_search_of_one_or_two_characters_finds_every_name_that_contains_it(
    school_1012, filer_1012, stored, part
):
    from enrollment.selectors import records_search

    names = ["张伟", "张伟明", "李张伟", "王伟明", "赵敏"]
    records = list(StudentRecord.objects.filter(school=school_1012).order_by("pk")[: len(names)])
    for record, name in zip(records, names, strict=True):
        record.name = name
    StudentRecord.objects.bulk_update(records, ["name"])
    found = records_search(StudentRecord.objects.filter(school=school_1012), part)
    assert sorted(found.values_list("name", flat=True)) == sorted(n for n in names if part in n)


def test_a_two_character_name_search_reads_the_name_grams_index_on_postgresql(
    school_1012, filer_1012, stored
):
    """Most Chinese names have two characters: a trigram cannot narrow them, so without the
    grams index a district's name search read all of its 200,000 records (bench_pages)."""
    from django.db import connection

    from enrollment.selectors import records_search

    if connection.vendor != "postgresql":
        pytest.skip("the index is PostgreSQL's (migration 0013)")
    found = records_search(StudentRecord.objects.all(), "张伟")
    sql, params = found.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "record_name_grams" in plan
