"""A GIN index on every one- and two-character part of a name, so that a name search of one or
two characters — most Chinese names are two — is found without reading every record in scope
(`enrollment.selectors.records_search`). The trigram index (0009) narrows only a query of three
characters or more.

PostgreSQL only, like 0009: SQLite answers the same search by reading the table. The function
and index live outside the model state, so `makemigrations` neither sees nor drops them.
"""

from django.db import migrations

FUNCTION = "enrollment_name_grams"

_CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}(value text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT COALESCE(array_agg(DISTINCT substr(value, position, size)), '{{}}')
    FROM generate_series(1, char_length(value)) AS position,
         (VALUES (1), (2)) AS sizes (size)
    WHERE position + size - 1 <= char_length(value)
$$
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(_CREATE_FUNCTION)
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS record_name_grams ON enrollment_studentrecord "
        f"USING gin ({FUNCTION}(name))"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS record_name_grams")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}(text)")


class Migration(migrations.Migration):
    dependencies = [
        ("enrollment", "0012_record_activation_status"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
