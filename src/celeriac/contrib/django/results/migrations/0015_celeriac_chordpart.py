"""celeriac's chord parts beside django-celery-results' tables (a redelivered header task
is not counted twice)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("django_celery_results", "0001_squashed_0014_alter_taskresult_status"),
    ]

    operations = [
        migrations.CreateModel(
            name="CeleriacChordPart",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("group_id", models.CharField(max_length=255)),
                ("task_id", models.CharField(max_length=255)),
                ("group_index", models.BigIntegerField()),
                (
                    "part",
                    models.TextField(
                        help_text="[1, task_id, state, result] in the result serializer"
                    ),
                ),
            ],
            options={
                "verbose_name": "chord part",
                "verbose_name_plural": "chord parts",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("group_id", "task_id", "group_index"),
                        name="celeriac_chord_part_unique",
                    )
                ],
            },
        ),
    ]
