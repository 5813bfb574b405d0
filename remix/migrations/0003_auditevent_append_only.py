"""The audit log refuses UPDATE in the database too, not only in the model (append-only)."""

from django.db import migrations

SQL = {
    "postgresql": (
        """
        CREATE OR REPLACE FUNCTION remix_auditevent_refuse_update() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only';
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER remix_auditevent_append_only BEFORE UPDATE ON remix_auditevent
            FOR EACH ROW EXECUTE FUNCTION remix_auditevent_refuse_update();
        """,
        """
        DROP TRIGGER IF EXISTS remix_auditevent_append_only ON remix_auditevent;
        DROP FUNCTION IF EXISTS remix_auditevent_refuse_update();
        """,
    ),
    "sqlite": (
        """
        CREATE TRIGGER remix_auditevent_append_only BEFORE UPDATE ON remix_auditevent
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        """,
        "DROP TRIGGER IF EXISTS remix_auditevent_append_only;",
    ),
}


def _run(index: int):
    def run(apps, schema_editor):
        statements = SQL.get(schema_editor.connection.vendor)
        if statements:
            schema_editor.execute(statements[index])

    return run


class Migration(migrations.Migration):
    dependencies = [("remix", "0002_trust_and_safety")]

    operations = [migrations.RunPython(_run(0), _run(1))]
