"""Every installation serves a city: Shanghai's texts and rules (seeds 01, 03) as its first row.

The values are written here, not imported, so that the migration stays what it was when the
model changes.
"""

from django.db import migrations

SHANGHAI = {
    "name": "上海市",
    "app_name": "随申办",
    "hotline": "021-12393",
    "benefit_start": "registration",
    "permit_prefixes": {},
}


def add_shanghai(apps, schema_editor):
    City = apps.get_model("schools", "City")
    City.objects.get_or_create(code="310000", defaults=SHANGHAI)


class Migration(migrations.Migration):
    dependencies = [("schools", "0002_city")]

    operations = [migrations.RunPython(add_shanghai, migrations.RunPython.noop)]
