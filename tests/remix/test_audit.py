"""The audit log: append-only in the model, the queryset and the database; filterable in admin; CSV export."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import DatabaseError, connection, transaction
from django.http import StreamingHttpResponse
from django.test import Client

from remix import audit, consent
from remix.admin.audit import CSV_COLUMNS, csv_cell
from remix.models import AuditEvent, AuditLogIsAppendOnly
from socialapp.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(db: None) -> list[AuditEvent]:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    return [
        audit.record(audit.Action.REPORT_FILED, summary="Report on remix job 7", actor=bob, subject=alice, job=7,
                     category="spam", detail={"reason": "spam"}),
        audit.record(audit.Action.TAKEDOWN, summary="Remix job 7 taken down", actor=None, subject=alice, job=7,
                     post=3, comment=11, category="spam", detail={"storage_paths": ["remixes/a.jpg"]}),
        audit.record(audit.Action.PROMPT_REJECTED, summary="=HYPERLINK(\"https://evil.example\",\"click\")",
                     actor=bob, category="sexual"),
    ]  # fmt: skip


def _admin() -> Client:
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def _rows(response: Any) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


# --- append-only ------------------------------------------------------------------------------


def test_an_event_cannot_be_changed_or_deleted(events: list[AuditEvent]) -> None:
    event = AuditEvent.objects.get(pk=events[0].pk)
    event.summary = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(summary="rewritten")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).summary == "Report on remix job 7"
    assert AuditEvent.objects.count() == 3


def test_the_database_refuses_an_update(events: list[AuditEvent]) -> None:
    """Past the ORM (raw SQL, a script, a console), the trigger still refuses."""
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE remix_auditevent SET summary = %s WHERE id = %s", ["rewritten", events[0].pk])
    assert AuditEvent.objects.get(pk=events[0].pk).summary == "Report on remix job 7"


def test_deleting_people_leaves_the_log_as_it_was(events: list[AuditEvent]) -> None:
    User.objects.filter(username__in=["alice", "bob"]).delete()
    event = AuditEvent.objects.get(pk=events[0].pk)
    assert (event.actor_name, event.subject_name, event.job_ref) == ("bob", "alice", 7)


def test_consent_changes_and_blocks_land_in_the_one_log(db: None) -> None:
    creator, other = UserFactory(username="creator"), UserFactory(username="other")
    consent.creator_settings_update(creator=creator, actor=creator, allow_remix=True)
    consent.remix_block(creator=creator, blocked=other, actor=creator)
    consent.remix_unblock(creator=creator, blocked=other, actor=creator)
    assert list(AuditEvent.objects.values_list("action", "actor_name", "subject_name")) == [
        ("user.unblocked", "creator", "other"),
        ("user.blocked", "creator", "other"),
        ("consent.changed", "creator", "creator"),
    ]


# --- admin ------------------------------------------------------------------------------------


def test_admin_lists_filters_and_searches(events: list[AuditEvent]) -> None:
    client = _admin()
    page = client.get("/admin/remix/auditevent/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Export all matching as CSV" in html and 'href="/admin/remix/auditevent/export/"' in html
    assert "job 7" in html and "post 3, job 7, comment 11" in html

    def listed(query: str) -> set[int]:
        response = client.get(f"/admin/remix/auditevent/?{query}")
        assert response.status_code == 200, query
        return {e.pk for e in response.context["cl"].result_list}

    assert listed("action__exact=takedown") == {events[1].pk}
    assert listed("category__exact=spam") == {events[0].pk, events[1].pk}
    assert listed("q=bob") == {events[0].pk, events[2].pk}
    assert listed("q=taken+down") == {events[1].pk}
    today = events[0].created_at
    assert listed(f"created_at__year={today.year}&created_at__month={today.month}") == {e.pk for e in events}
    midnight = today.replace(hour=0, minute=0, second=0, microsecond=0)
    assert listed(urlencode({"created_at__gte": str(midnight)})) == {e.pk for e in events}  # the "Today" link
    # The export link carries the current filters.
    filtered = client.get("/admin/remix/auditevent/?category__exact=spam").content.decode()
    assert 'href="/admin/remix/auditevent/export/?category__exact=spam"' in filtered


def test_admin_never_adds_changes_or_deletes(events: list[AuditEvent]) -> None:
    client = _admin()
    assert client.get("/admin/remix/auditevent/add/").status_code == 403
    change = client.get(f"/admin/remix/auditevent/{events[0].pk}/change/")
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert client.post(f"/admin/remix/auditevent/{events[0].pk}/change/", {"summary": "x"}).status_code == 403
    assert client.get(f"/admin/remix/auditevent/{events[0].pk}/delete/").status_code == 403
    actions = client.get("/admin/remix/auditevent/").context["action_form"].fields["action"].choices
    assert [name for name, _ in actions if name] == ["export_csv"]


def test_export_selected_as_csv(events: list[AuditEvent]) -> None:
    response = _admin().post(
        "/admin/remix/auditevent/",
        {"action": "export_csv", "_selected_action": [events[0].pk, events[1].pk], "index": 0},
    )
    rows = _rows(response)
    assert rows[0] == [name for name, _ in CSV_COLUMNS]
    assert rows[0] == [
        "id", "created_at", "action", "action_label", "actor_ref", "actor_name", "subject_ref", "subject_name",
        "post_ref", "job_ref", "comment_ref", "category", "severe", "summary", "detail",
    ]  # fmt: skip
    assert [row[0] for row in rows[1:]] == [str(events[1].pk), str(events[0].pk)]  # newest first
    takedown = dict(zip(rows[0], rows[1], strict=True))
    assert takedown["action"] == "takedown" and takedown["action_label"] == "Remix taken down"
    assert takedown["actor_name"] == "" and takedown["subject_name"] == "alice"
    assert (takedown["post_ref"], takedown["job_ref"], takedown["comment_ref"]) == ("3", "7", "11")
    assert takedown["detail"] == '{"storage_paths": ["remixes/a.jpg"]}'


def test_export_all_matching_honours_the_filters_and_guards_against_formulas(events: list[AuditEvent]) -> None:
    client = _admin()
    everything = _rows(client.get("/admin/remix/auditevent/export/"))
    assert len(everything) == 4
    rejected = _rows(client.get("/admin/remix/auditevent/export/?action__exact=prompt.rejected"))
    assert len(rejected) == 2
    summary = rejected[1][rejected[0].index("summary")]
    assert summary == '\'=HYPERLINK("https://evil.example","click")'  # text, not a formula
    searched = _rows(client.get("/admin/remix/auditevent/export/?q=alice"))
    assert {row[0] for row in searched[1:]} == {str(events[0].pk), str(events[1].pk)}
    assert client.get("/admin/remix/auditevent/export/?nonsense=1").status_code in (400, 302)
    assert Client().get("/admin/remix/auditevent/export/").status_code == 302  # to the admin login


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        (None, ""),
        (7, "7"),
    ],
)
def test_csv_cells_never_start_a_formula(value: object, cell: str) -> None:
    assert csv_cell(value) == cell
