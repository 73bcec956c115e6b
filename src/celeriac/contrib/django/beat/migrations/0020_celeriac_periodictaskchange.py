"""celeriac's change log beside django-celery-beat's tables (read by the database scheduler)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("django_celery_beat", "0001_squashed_0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="PeriodicTaskChange",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("kind", models.CharField(max_length=16)),
                ("object_id", models.IntegerField()),
                ("changed_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "verbose_name": "periodic task change",
                "verbose_name_plural": "periodic task changes",
            },
        ),
    ]
