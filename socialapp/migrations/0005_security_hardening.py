"""Security hardening (issue 12).

- Uploaded originals are no longer kept: their files (which held the uploader's EXIF, GPS, device and C2PA
  manifest) are deleted, then the column.
- ``User.password_changed_at``: API tokens issued before a password change are refused.
- ``Post.media`` and ``Post.poster`` indexed: the media gate looks a file up by its name on every request.
- DRF's plain-text token table (``authtoken_token``) is dropped: tokens are knox's hashed ones now.
"""

import socialapp.models
from django.db import migrations, models


def delete_originals(apps, schema_editor):
    from django.core.files.storage import default_storage

    Post = apps.get_model("socialapp", "Post")
    for name in Post.objects.exclude(original="").values_list("original", flat=True).iterator():
        if name:
            default_storage.delete(name)


class Migration(migrations.Migration):

    dependencies = [
        ("socialapp", "0004_post_review_notification_kinds"),
    ]

    operations = [
        migrations.RunPython(delete_originals, migrations.RunPython.noop, elidable=True),
        migrations.RemoveField(
            model_name="post",
            name="original",
        ),
        migrations.AddField(
            model_name="user",
            name="password_changed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name="post",
            name="media",
            field=models.FileField(db_index=True, max_length=200, upload_to=socialapp.models._media_path),
        ),
        migrations.AlterField(
            model_name="post",
            name="poster",
            field=models.FileField(db_index=True, max_length=200, upload_to=socialapp.models._media_path),
        ),
        migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", migrations.RunSQL.noop, elidable=True),
    ]
