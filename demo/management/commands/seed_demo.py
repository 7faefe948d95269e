"""Demo data for a new installation; running it again changes nothing."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from confirmations.models import Application, CoverageRecord, PolicyYear, Question
from confirmations.services import (
    account_create,
    account_fail_technically,
    application_submit,
    benefit_table_set,
)
from demo.policy import SHANGHAI_BENEFIT_TABLE, SHANGHAI_QUESTIONS
from enrollment.demo import demo_rows, roster_workbook
from enrollment.importer import roster_import
from enrollment.models import StudentRecord
from schools.models import Campus, City, District, FilerDesignation, School, User

DEMO_PASSWORD = "demo-2026"
DEMO_ROSTER_ROWS = 200  # the file a filer uploads in the demo: students not yet stored
STORED_ROSTER_ROWS = 500  # already on 1012's roster, ready to confirm
UPLOAD_FILE_FIRST_ROW = 1000  # keeps the upload file's students apart from the stored ones
# The first stored students show each account outcome (registry entries below): the students
# confirm these themselves in the demo (and in the browser journeys).
DEMO_OUTCOMES = [
    ("建账成功", None),
    ("本市居民医保转大学生身份", CoverageRecord.Kind.CITY_RESIDENT),
    ("建账失败：相同证件号存在其他医保账户但姓名不同", "name_mismatch"),
    ("建账失败：已参加职工医保", CoverageRecord.Kind.EMPLOYEE),
    ("有待遇等待期：断保 1 年", CoverageRecord.Kind.LAPSED),
]
# The next two were confirmed on their behalf by 1012's filer in September, so that the demo
# shows what the seeds promise for them today: a waiting period with seed 03's dates (confirmed
# 10 September, 3 months for one year without coverage: waiting until 9 December, account on
# 10 December, e-voucher from 09:00 that day, benefits 11–31 December), and a failure for a
# technical reason, which the district retries (the student is not asked to apply again).
CONFIRMED_IN_SEPTEMBER = [
    ("waiting", dt.time(9, 30), 10),
    ("technical", dt.time(10, 15), 20),
]

DISTRICTS = ["闵行区", "徐汇区", "浦东新区"]
SCHOOLS = [
    # code, name, status, [(campus code, campus name, district)]
    (
        "1012",
        "上海某某大学",
        School.Status.ACTIVE,
        [
            ("101200", "闵行校区（总校）", "闵行区"),
            ("101201", "徐汇校区", "徐汇区"),
        ],
    ),
    ("1013", "上海某某职业技术学院", School.Status.ACTIVE, [("101300", "主校区", "徐汇区")]),
    ("1014", "上海某某师范学院", School.Status.ACTIVE, [("101400", "主校区", "浦东新区")]),
    ("1015", "上海某某专修学院", School.Status.DEREGISTERED, [("101500", "主校区", "闵行区")]),
]
USERS = [
    # username, full name, role, district, designated campuses
    ("filer1012", "陈老师", User.Role.SCHOOL_FILER, None, ["101200"]),
    ("filer1014", "林老师", User.Role.SCHOOL_FILER, None, ["101400"]),
    ("handler_minhang", "闵行区医保中心 王经办", User.Role.DISTRICT_HANDLER, "闵行区", []),
    ("handler_xuhui", "徐汇区医保中心 李经办", User.Role.DISTRICT_HANDLER, "徐汇区", []),
    ("handler_pudong", "浦东新区医保中心 赵经办", User.Role.DISTRICT_HANDLER, "浦东新区", []),
    ("cityadmin", "市医保中心 管理员", User.Role.CITY_ADMIN, None, []),
]


class Command(BaseCommand):
    help = "Create the demo districts, schools, campuses, users and a 200-row roster file for 1012."

    @transaction.atomic
    def handle(self, *args, **options):
        districts = {name: District.objects.get_or_create(name=name)[0] for name in DISTRICTS}
        for code, name, status, campuses in SCHOOLS:
            school, _ = School.objects.update_or_create(
                code=code, defaults={"name": name, "status": status}
            )
            for campus_code, campus_name, district in campuses:
                Campus.objects.update_or_create(
                    code=campus_code,
                    defaults={
                        "school": school,
                        "name": campus_name,
                        "district": districts[district],
                    },
                )
        for username, full_name, role, district, campus_codes in USERS:
            user, created = User.objects.get_or_create(username=username)
            user.last_name = full_name
            user.role = role
            user.district = districts[district] if district else None
            user.is_staff = role == User.Role.CITY_ADMIN
            user.is_superuser = role == User.Role.CITY_ADMIN
            if created:
                user.set_password(DEMO_PASSWORD)
            user.save()
            for campus_code in campus_codes:
                FilerDesignation.objects.get_or_create(
                    user=user, campus=Campus.objects.get(code=campus_code)
                )

        year = timezone.localdate().year
        policy_year = self._policy_year(year)
        stored = self._store_roster(year)
        self._coverage_registry(stored)
        prepared = self._confirmed_in_september(stored, policy_year)
        prepared.append(self._on_two_rosters(stored, year))
        roster_path = self._write_demo_roster(year)
        self.stdout.write(self.style.SUCCESS("演示数据已就绪 (demo data ready)."))
        self.stdout.write(f"  Demo roster to upload for 1012: {roster_path}")
        self.stdout.write(
            f"  1012 already has {STORED_ROSTER_ROWS} stored freshmen. Students for /student/ "
            "(the one-time code appears in the server console):"
        )
        for row, (outcome, _) in zip(stored, DEMO_OUTCOMES, strict=False):
            self.stdout.write(f"    {row['姓名']}  {row['证件号码']}  → {outcome}")
        for row, outcome in prepared:
            self.stdout.write(f"    {row['姓名']}  {row['证件号码']}  → {outcome}")
        self.stdout.write(f"  Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, _, role, district, campus_codes in USERS:
            scope = (
                f"designated for {', '.join(campus_codes)}" if campus_codes else (district or "all")
            )
            self.stdout.write(f"    {username:<16} {role.label} ({scope})")

    def _policy_year(self, year: int) -> PolicyYear:
        # Seed 03 (2025): confirmation ends with the next year's annual filing deadline,
        # "预估在今年 12 月底"; the city's own texts come from its row (schools.City).
        policy_year, _ = PolicyYear.objects.get_or_create(
            enrollment_year=year,
            defaults={
                "city": City.default(),
                "closing_basis": PolicyYear.ClosingBasis.FILING_DEADLINE,
                "closing_date": dt.date(year, 12, 31),
                "premium": Decimal("355"),
            },
        )
        # What an administrator has edited since stays as it is.
        if not policy_year.benefit_rules.exists():
            benefit_table_set(policy_year=policy_year, table=SHANGHAI_BENEFIT_TABLE)
        for order, (question, answer, source, keywords) in enumerate(SHANGHAI_QUESTIONS, start=1):
            Question.objects.get_or_create(
                policy_year=policy_year,
                question=question,
                defaults={"answer": answer, "source": source, "keywords": keywords, "order": order},
            )
        return policy_year

    def _store_roster(self, year: int) -> list[dict[str, str]]:
        rows = demo_rows(
            STORED_ROSTER_ROWS, school_code="1012", campus_codes=["101200", "101201"], year=year
        )
        roster_import(
            content=roster_workbook(rows),
            school=School.objects.get(code="1012"),
            year=year,
            user=User.objects.get(username="filer1012"),
            commit=True,
        )
        return rows

    def _coverage_registry(self, stored: list[dict[str, str]]) -> None:
        for row, (_, kind) in zip(stored, DEMO_OUTCOMES, strict=False):
            if kind is None:
                continue
            name = row["姓名"]
            if kind == "name_mismatch":
                kind, name = CoverageRecord.Kind.CITY_RESIDENT, "张冠李"
            CoverageRecord.objects.update_or_create(
                id_number=row["证件号码"],
                defaults={
                    "name": name,
                    "kind": kind,
                    "gap_years": 1 if kind == CoverageRecord.Kind.LAPSED else 0,
                },
            )

    def _confirmed_in_september(
        self, stored: list[dict[str, str]], policy_year: PolicyYear
    ) -> list[tuple[dict[str, str], str]]:
        """Students confirmed on their behalf in September (once: a second run changes nothing)."""
        filer = User.objects.get(username="filer1012")
        prepared = []
        rows = stored[len(DEMO_OUTCOMES) : len(DEMO_OUTCOMES) + len(CONFIRMED_IN_SEPTEMBER)]
        for row, (kind, at, day) in zip(rows, CONFIRMED_IN_SEPTEMBER, strict=True):
            record = StudentRecord.objects.get(
                school__code="1012",
                enrollment_year=policy_year.enrollment_year,
                id_number=row["证件号码"],
            )
            if kind == "waiting":
                CoverageRecord.objects.update_or_create(
                    id_number=record.id_number,
                    defaults={
                        "name": record.name,
                        "kind": CoverageRecord.Kind.LAPSED,
                        "gap_years": 1,
                    },
                )
            application = record.applications.first() or self._confirm_on_behalf(
                record,
                policy_year,
                filer,
                when=dt.datetime.combine(dt.date(policy_year.enrollment_year, 9, day), at),
            )
            if kind == "waiting":
                account_create(application_id=application.pk)
            else:
                account_fail_technically(application_id=application.pk)
            application.refresh_from_db()
            prepared.append((row, self._describe(application)))
        return prepared

    def _on_two_rosters(self, stored: list[dict[str, str]], year: int) -> tuple[dict, str]:
        """The next stored student, also on 1014's roster (same phone): 立即办理 asks which school.

        Printed after the others, in roster order, so that the printed students are still the
        first rows of 1012's roster (the browser tests rebuild them from that).
        """
        row = stored[len(DEMO_OUTCOMES) + len(CONFIRMED_IN_SEPTEMBER)]
        at_1014 = {**row, "学号": "1014" + row["学号"][-6:], "总分校编码": "101400"}
        roster_import(
            content=roster_workbook([at_1014]),
            school=School.objects.get(code="1014"),
            year=year,
            user=User.objects.get(username="filer1014"),
            commit=True,
        )
        return row, "在 1012 和 1014 两所院校的名单中：立即办理后先选择学校，建账成功"

    def _confirm_on_behalf(
        self, record: StudentRecord, policy_year: PolicyYear, filer: User, *, when: dt.datetime
    ) -> Application:
        return application_submit(
            record=record,
            policy_year=policy_year,
            confirmed_by=filer,
            paper_pledge_attested=True,
            now=timezone.make_aware(min(when, timezone.localtime().replace(tzinfo=None))),
        )

    @staticmethod
    def _describe(application: Application) -> str:
        confirmed = (
            f"{application.confirmed_on.month} 月 {application.confirmed_on.day} 日院校代确认"
        )
        if application.state == Application.State.FAILED:
            return f"{confirmed}，建账失败：{application.failure_reason}"
        state = "" if application.is_waiting else f"{application.get_state_display()}，"
        return (
            f"{confirmed}，{state}待遇等待期至 {application.waiting_until:%Y-%m-%d}，"
            f"{application.account_on:%Y-%m-%d} 建账，待遇 {application.benefit_start:%Y-%m-%d} 起"
        )

    def _write_demo_roster(self, year: int) -> Path:
        rows = demo_rows(
            DEMO_ROSTER_ROWS,
            school_code="1012",
            campus_codes=["101200", "101201"],
            year=year,
            start=UPLOAD_FILE_FIRST_ROW,
        )
        path = Path(settings.VAR_DIR) / "demo" / f"1012-新生名单-{year}.xlsx"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(roster_workbook(rows))
        return path
