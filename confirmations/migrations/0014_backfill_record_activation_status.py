"""Store every existing record's status (enrollment 0012 added the column, all "unconfirmed").

Runs the live classifier (`confirmations.status`), not a copy of it frozen here: a second
definition would be one more to keep in step. It selects and updates named columns only, so a
later field on these models does not break it; `manage.py refresh_statuses` does the same and
reports what it corrected.
"""

from django.db import migrations


def backfill(apps, schema_editor) -> None:
    from confirmations.status import statuses_refresh_all

    statuses_refresh_all()


class Migration(migrations.Migration):
    # One transaction per chunk of records, not one for the whole table.
    atomic = False

    dependencies = [
        ("confirmations", "0013_application_claimed_at"),
        ("enrollment", "0012_record_activation_status"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
