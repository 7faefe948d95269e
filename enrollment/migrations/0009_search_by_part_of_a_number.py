"""Trigram indexes so that a part of an ID number or student number is found without reading
every record in scope (`enrollment.selectors.records_search`).

PostgreSQL only (pg_trgm, a trusted extension since PostgreSQL 13): SQLite, used in development
and the tests, answers the same LIKE by reading the table. The indexes live outside the model
state, so `makemigrations` neither sees nor drops them.
"""

from django.db import migrations

_INDEXES = [
    # `name LIKE '%…%'`: only a query of three characters or more narrows through it.
    ("record_name_trgm", "(name gin_trgm_ops)"),
    # `id_number LIKE '%…%'` (ID numbers are stored upper-case: contains, not icontains).
    ("record_id_number_trgm", "(id_number gin_trgm_ops)"),
    # `UPPER(student_number::text) LIKE UPPER('%…%')`, as Django writes icontains.
    ("record_student_number_trgm", "(UPPER(student_number::text) gin_trgm_ops)"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in _INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON enrollment_studentrecord USING gin {expression}"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in _INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("enrollment", "0008_admin_import_drafts"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
