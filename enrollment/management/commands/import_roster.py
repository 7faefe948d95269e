"""Check (and with --commit, store) a roster file through the same pipeline as the browser."""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.services import Action, audit_record
from enrollment import spreadsheets
from enrollment.importer import PROGRESS_EVERY, REPORTED_ERRORS, RosterRefused, roster_import
from schools.models import School, User


class Command(BaseCommand):
    help = (
        "Check a roster .xlsx for one school; with --commit store its valid rows in one "
        "transaction. Without --commit nothing is stored and the counts say what a commit would do. "
        "The file is read in a child process with memory and time limits (an upload's, unless "
        "--max-rows raises them for a larger roster); the report lists at most the first errors, "
        "with their total."
    )

    # The system checks cost half a second of every run (a scripted import of a 50,000-row
    # roster is timed against its floor); `manage.py check` and the deploy run them.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--school", required=True, help="4-digit school code")
        parser.add_argument(
            "--year", type=int, default=None, help="enrollment year (default: this year)"
        )
        parser.add_argument("--commit", action="store_true", help="store the valid rows")
        parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        parser.add_argument(
            "--as-user",
            default=None,
            help="file as this user (their filing scope applies); default: a city administrator",
        )
        parser.add_argument(
            "--max-rows",
            type=int,
            default=None,
            help=(
                f"read a roster of up to this many rows (default {spreadsheets.MAX_ROWS:,}, an "
                f"upload's limit; at most {spreadsheets.OPERATOR_MAX_ROWS:,}); the reader's size, "
                "memory and time limits grow in proportion"
            ),
        )

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"File not found: {path}")
        try:
            limits = (
                spreadsheets.upload_limits()
                if options["max_rows"] is None
                else spreadsheets.operator_limits(options["max_rows"])
            )
            # From the file's size on disk: a huge file is refused without being read.
            spreadsheets.check_file_size(path.stat().st_size, limits)
        except spreadsheets.SpreadsheetRefused as refused:
            raise CommandError(refused.message) from refused
        school = School.objects.filter(code=options["school"]).first()
        if school is None:
            raise CommandError(f"No school with code {options['school']}")
        if not school.is_active:
            raise CommandError(
                f"School {school.code} is {school.get_status_display()}: it takes no filings"
            )
        user = self._user(options["as_user"])
        year = options["year"] or timezone.localdate().year

        def progress(checked: int, total: int) -> None:
            if total >= PROGRESS_EVERY:
                sys.stderr.write(f"checked {checked}/{total} rows\n")

        try:
            result = roster_import(
                content=path.read_bytes(),
                school=school,
                year=year,
                user=user,
                commit=options["commit"],
                progress=progress,
                limits=limits,
            )
        except RosterRefused as refusal:
            raise CommandError(refusal.message) from refusal
        if result.committed:
            audit_record(
                action=Action.UPLOAD_COMMITTED,
                actor=user,
                school=school,
                target=f"file:{path.name}",
                detail={
                    "via": "import_roster",
                    "inserted": result.inserted,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                },
            )

        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))
            return
        for error in result.errors[:REPORTED_ERRORS]:
            self.stdout.write(f"第 {error.row} 行 [{error.column}] {error.message}")
        if len(result.errors) > REPORTED_ERRORS:
            self.stdout.write(f"… {len(result.errors) - REPORTED_ERRORS} more errors not listed")
        verb = "stored" if result.committed else "would store (dry run, nothing stored)"
        self.stdout.write(
            f"rows={result.rows} valid={result.valid} errors={len(result.errors)}; {verb}: "
            f"inserted={result.inserted} updated={result.updated} unchanged={result.unchanged}"
        )

    def _user(self, username: str | None) -> User:
        if username:
            user = User.objects.filter(username=username, is_active=True).first()
            if user is None:
                raise CommandError(f"No active user {username}")
            return user
        user = (
            User.objects.filter(is_active=True)
            .filter(role=User.Role.CITY_ADMIN)
            .order_by("pk")
            .first()
            or User.objects.filter(is_active=True, is_superuser=True).order_by("pk").first()
        )
        if user is None:
            raise CommandError("No city administrator exists to file as; pass --as-user")
        return user
