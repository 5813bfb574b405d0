"""Reports of remixes and takedowns: the API, the pages, the admin queue, and the takedown test — after a
takedown no storage path of the remix exists and no API or page shows it."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from rest_framework.test import APIClient

from remix import consent, reports
from remix.models import AuditEvent, RemixJob, RemixReport, RemixResult
from socialapp.models import Comment, Notification, Post, User
from tests.conftest import client_for
from tests.factories import CommentFactory, UserFactory
from tests.remix.remixes import finished_remix

pytestmark = pytest.mark.django_db


@pytest.fixture
def remix(remixable_post: Post, viewer: User) -> RemixResult:
    """``viewer``'s finished remix of the creator's post."""
    return finished_remix(remixable_post, viewer, "put a moustache on him")


@pytest.fixture
def reporter(db: None) -> User:
    return UserFactory(username="reporter")


def _web(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _report(api: APIClient, comment_id: int, **body: Any) -> Any:
    return api.post(f"/api/comments/{comment_id}/report/", {"reason": "harassment", **body}, format="json")


# --- reporting --------------------------------------------------------------------------------


def test_report_a_remix_through_the_api(remix: RemixResult, reporter: User) -> None:
    api = client_for(reporter)
    response = _report(api, remix.comment_id, text="  mocks my friend  ")
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "job": remix.job_id,
        "comment": remix.comment_id,
        "post": remix.comment.post_id,
        "reason": "harassment",
        "text": "mocks my friend",
        "status": "open",
        "created_at": body["created_at"],
    }
    report = RemixReport.objects.get()
    assert (report.job_id, report.reporter, report.status) == (remix.job_id, reporter, "open")
    event = AuditEvent.objects.get(action=AuditEvent.Action.REPORT_FILED)
    assert (event.actor_name, event.subject_name, event.category) == ("reporter", "viewer", "harassment")
    assert (event.job_ref, event.comment_ref, event.detail["report"]) == (remix.job_id, remix.comment_id, report.pk)

    # The same person again, while their report is open: the first one comes back.
    again = _report(api, remix.comment_id, reason="spam")
    assert again.status_code == 200 and again.json()["id"] == body["id"] and again.json()["reason"] == "harassment"
    assert RemixReport.objects.count() == 1 and AuditEvent.objects.filter(action="report.filed").count() == 1
    # Someone else reports too.
    assert _report(client_for(UserFactory()), remix.comment_id).status_code == 201
    # Once a moderator dismissed it, the first person may report again.
    reports.report_dismiss(report=report, moderator=UserFactory(is_staff=True))
    assert _report(api, remix.comment_id).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [({"reason": "boring"}, "reason"), ({"reason": ""}, "reason"), ({"text": "x" * 1001}, "text")],
)
def test_report_validation(remix: RemixResult, reporter: User, body: dict[str, str], field: str) -> None:
    response = _report(client_for(reporter), remix.comment_id, **body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and field in response.json()["errors"]
    assert not RemixReport.objects.exists()


def test_only_a_visible_remix_can_be_reported(
    remix: RemixResult, remixable_post: Post, creator: User, reporter: User, api: APIClient
) -> None:
    caller = client_for(reporter)
    text = CommentFactory(post=remixable_post)
    assert _report(caller, text.pk).json()["code"] == "not_found"
    assert _report(caller, 99999).status_code == 404
    assert _report(api, remix.comment_id).status_code == 401
    consent.creator_settings_update(creator=creator, actor=creator, allow_remix=False)  # the remix is hidden now
    assert _report(caller, remix.comment_id).status_code == 404
    with pytest.raises(reports.NotReportable):
        reports.report_file(comment=remix.comment, reporter=reporter, reason="spam")
    with pytest.raises(reports.InvalidReason):
        reports.report_file(comment=remix.comment, reporter=reporter, reason="boring")
    assert not RemixReport.objects.exists()


def test_report_from_the_post_page(remix: RemixResult, remixable_post: Post, reporter: User, viewer: User) -> None:
    client = _web(reporter)
    html = client.get(f"/p/{remixable_post.pk}/").content.decode()
    assert f'action="/c/{remix.comment_id}/report/"' in html
    assert f'id="id_report_{remix.comment_id}_reason"' in html and "Shows me or a real person without consent" in html
    assert "Report<span" not in _web(None).get(f"/p/{remixable_post.pk}/").content.decode()  # signed out
    assert (
        f'action="/c/{remix.comment_id}/report/"' not in _web(viewer).get(f"/p/{remixable_post.pk}/").content.decode()
    )

    # Without JS: a plain post, then the post page with a confirmation.
    response = client.post(f"/c/{remix.comment_id}/report/", {"reason": "real_person", "text": "that's me"})
    assert response.status_code == 302
    assert response["Location"] == f"/p/{remixable_post.pk}/#comment-{remix.comment_id}"
    assert "Thanks. Your report was sent to the moderators." in client.get(response["Location"]).content.decode()
    assert RemixReport.objects.get().reason == "real_person"

    # With htmx: the confirmation replaces the control; errors come back in place (422).
    other = _web(UserFactory())
    sent = other.post(f"/c/{remix.comment_id}/report/", {"reason": "spam"}, HTTP_HX_REQUEST="true")
    assert sent.status_code == 200 and '<p class="report-sent" role="status">' in sent.content.decode()
    bad = other.post(f"/c/{remix.comment_id}/report/", {"reason": ""}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 422 and "Choose a reason." in bad.content.decode()
    # Without JS, errors come back on the report page (400); the page also works on its own.
    page = client.post(f"/c/{remix.comment_id}/report/", {"reason": "nope"})
    assert page.status_code == 400 and "Choose one of the listed reasons." in page.content.decode()
    assert client.get(f"/c/{remix.comment_id}/report/").status_code == 200
    assert RemixReport.objects.count() == 2


# --- takedown ---------------------------------------------------------------------------------


def _paths(result: RemixResult) -> list[str]:
    return reports.job_storage_paths(result.job)


def test_takedown_removes_the_remix_everywhere(
    remix: RemixResult,
    remixable_post: Post,
    creator: User,
    viewer: User,
    reporter: User,
    api: APIClient,
    django_capture_on_commit_callbacks: Any,
) -> None:
    comment_id, job_id = remix.comment_id, remix.job_id
    paths = _paths(remix)
    assert paths == [remix.image.name] and all(default_storage.exists(p) for p in paths)
    image_url = remix.image.url
    assert _web(None).get(image_url).status_code == 200
    with default_storage.open(remix.image.name, "rb") as fh:
        image_bytes = fh.read()
    first = reports.report_file(comment=remix.comment, reporter=reporter, reason="real_person")[0]
    second = reports.report_file(comment=remix.comment, reporter=UserFactory(), reason="harassment")[0]
    moderator = UserFactory(username="mod", is_staff=True)

    with django_capture_on_commit_callbacks(execute=True):
        takedown = reports.remix_takedown(
            job=remix.job, moderator=moderator, reason_text="Shows a real person", report=first
        )

    # No storage path of the remix exists.
    assert not any(default_storage.exists(p) for p in paths)
    assert takedown.files_gone is True and takedown.seconds is not None and takedown.seconds >= 0
    # No API shows it.
    assert comment_id not in [c["id"] for c in api.get(f"/api/posts/{remixable_post.pk}/comments/").json()["results"]]
    assert api.get(f"/api/comments/{comment_id}/").status_code == 404
    assert api.get(f"/api/comments/{comment_id}/credentials/").status_code == 404
    assert api.get(f"/api/posts/{remixable_post.pk}/").json()["remix_count"] == 0
    for owner in (viewer, creator):
        assert client_for(owner).get(f"/api/posts/{remixable_post.pk}/comments/").json()["results"] == []
    verified = api.post("/api/credentials/verify/", {"image": _upload(image_bytes)}, format="multipart").json()
    assert verified["watermark"]["remix"] in (None, {"visible": False})
    # No page shows it.
    for who in (None, viewer, creator):
        html = _web(who).get(f"/p/{remixable_post.pk}/").content.decode()
        assert f'id="comment-{comment_id}"' not in html and "put a moustache on him" not in html
    assert _web(None).get(f"/c/{comment_id}/credentials/").status_code == 404
    assert _web(None).get(image_url).status_code == 404
    assert _web(reporter).get(f"/c/{comment_id}/report/").status_code == 404
    # The job stays, marked as taken down, for its requester.
    job = client_for(viewer).get(f"/api/remixes/{job_id}/").json()
    assert job["status"] == "succeeded" and job["comment"] is None
    assert job["error"] == {"code": "taken_down", "detail": "A moderator took this remix down after a report."}
    assert RemixJob.objects.get(pk=job_id).taken_down_at is not None
    assert (
        "A moderator took this remix down after a report." in _web(viewer).get(f"/remixes/{job_id}/").content.decode()
    )
    mine = client_for(viewer).get("/api/me/remixes/").json()["results"]
    assert [(j["id"], j["comment"]) for j in mine] == [(job_id, None)]
    # Every open report on it is resolved; they keep their refs.
    for report in (first, second):
        report.refresh_from_db()
        assert (report.status, report.resolved_by, report.job_id) == ("taken_down", moderator, job_id)
        assert report.comment_ref == comment_id
    # The requester is told (no link to the gone comment); the creator's "remixed" note went with it.
    note = Notification.objects.get(recipient=viewer)
    assert note.kind == Notification.Kind.REMIX_TAKEN_DOWN and note.comment_id is None and note.actor is None
    assert note.text == "Your AI remix of @creator's post was taken down by a moderator: Shows a real person"
    # The audit log keeps the record, with the deleted paths and the measured time.
    event = AuditEvent.objects.get(action=AuditEvent.Action.TAKEDOWN)
    assert (event.actor_name, event.subject_name, event.job_ref, event.comment_ref) == (
        "mod",
        "viewer",
        job_id,
        comment_id,
    )
    assert event.category == "real_person"
    assert event.detail["storage_paths"] == paths and event.detail["files_gone"] is True
    assert event.detail["seconds_to_files_gone"] == takedown.seconds
    assert event.detail["reports_resolved"] == 2 and event.detail["reason"] == "Shows a real person"


def test_takedown_again_only_resolves_new_reports(
    remix: RemixResult, reporter: User, django_capture_on_commit_callbacks: Any
) -> None:
    moderator = UserFactory(is_staff=True)
    job = remix.job
    with django_capture_on_commit_callbacks(execute=True):
        reports.remix_takedown(job=job, moderator=moderator, reason_text="")
    with django_capture_on_commit_callbacks(execute=True):
        again = reports.remix_takedown(job=job, moderator=moderator, reason_text="")
    assert again.already_taken_down and again.paths == [] and again.notified is False
    assert Notification.objects.filter(kind="remix_taken_down").count() == 1
    assert "breaks the site's rules" in Notification.objects.get(kind="remix_taken_down").text


@pytest.mark.django_db(transaction=True)
def test_takedown_measures_the_time_until_the_files_are_gone(remixable_post: Post, viewer: User) -> None:
    """A real commit (no test transaction around it): the files go right after it, synchronously."""
    results = [finished_remix(remixable_post, viewer, f"remix {n}") for n in range(3)]
    moderator = UserFactory(is_staff=True)
    seconds = []
    for result in results:
        paths = _paths(result)
        takedown = reports.remix_takedown(job=result.job, moderator=moderator, reason_text="test")
        assert takedown.seconds is not None, "the files were not deleted right after the commit"
        assert not any(default_storage.exists(p) for p in paths)
        seconds.append(takedown.seconds)
    events = AuditEvent.objects.filter(action="takedown").order_by("id")
    assert [e.detail["seconds_to_files_gone"] for e in events] == seconds
    print(f"takedown → files gone: {', '.join(f'{s * 1000:.1f} ms' for s in seconds)}")
    assert max(seconds) < 5


def test_takedown_of_a_remix_whose_file_is_already_missing_still_completes(
    remix: RemixResult, django_capture_on_commit_callbacks: Any
) -> None:
    default_storage.delete(remix.image.name)
    with django_capture_on_commit_callbacks(execute=True):
        takedown = reports.remix_takedown(job=remix.job, moderator=UserFactory(is_staff=True), reason_text="x")
    assert takedown.files_gone is True
    assert not Comment.objects.filter(pk=remix.comment_id).exists()


def _upload(data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("remix.jpg", data, content_type="image/jpeg")


# --- the admin queue --------------------------------------------------------------------------


@pytest.fixture
def admin_client_(db: None) -> Client:
    return _web(UserFactory(username="admin", is_staff=True, is_superuser=True))


def test_admin_queue_lists_open_reports_first_and_filters(
    remix: RemixResult, remixable_post: Post, reporter: User, admin_client_: Client
) -> None:
    old = reports.report_file(comment=remix.comment, reporter=reporter, reason="spam")[0]
    reports.report_dismiss(report=old, moderator=UserFactory(is_staff=True))
    fresh = reports.report_file(comment=remix.comment, reporter=UserFactory(), reason="hate")[0]
    newest_dismissed = reports.report_file(comment=remix.comment, reporter=UserFactory(), reason="spam")[0]
    reports.report_dismiss(report=newest_dismissed, moderator=UserFactory(is_staff=True))

    page = admin_client_.get("/admin/remix/remixreport/")
    assert page.status_code == 200
    listed = [r.pk for r in page.context["cl"].result_list]
    assert listed[0] == fresh.pk and set(listed) == {old.pk, fresh.pk, newest_dismissed.pk}
    html = page.content.decode()
    assert (
        remix.image.url in html and "put a moustache on him" in html and f"post {remixable_post.pk} by @creator" in html
    )
    only_open = admin_client_.get("/admin/remix/remixreport/?status__exact=open").context["cl"].result_list
    assert [r.pk for r in only_open] == [fresh.pk]
    by_reason = admin_client_.get("/admin/remix/remixreport/?reason__exact=spam").context["cl"].result_list
    assert {r.pk for r in by_reason} == {old.pk, newest_dismissed.pk}
    assert admin_client_.get("/admin/remix/remixreport/add/").status_code == 403
    assert admin_client_.get(f"/admin/remix/remixreport/{fresh.pk}/change/").status_code == 200  # view only
    assert admin_client_.get(f"/admin/remix/remixreport/{fresh.pk}/delete/").status_code == 403


def test_admin_dismiss_and_take_down_actions(
    remix: RemixResult, reporter: User, admin_client_: Client, django_capture_on_commit_callbacks: Any
) -> None:
    other = finished_remix(remix.job.post, UserFactory(), "another")
    first = reports.report_file(comment=remix.comment, reporter=reporter, reason="real_person")[0]
    to_dismiss = reports.report_file(comment=other.comment, reporter=reporter, reason="spam")[0]
    url = "/admin/remix/remixreport/"

    admin_client_.post(url, {"action": "dismiss", "_selected_action": [to_dismiss.pk], "index": 0})
    to_dismiss.refresh_from_db()
    assert to_dismiss.status == "dismissed" and to_dismiss.resolved_by.username == "admin"
    assert AuditEvent.objects.filter(action="report.dismissed", actor_name="admin").count() == 1

    # Taking down asks first, with the reason the requester will read.
    ask = admin_client_.post(url, {"action": "take_down", "_selected_action": [first.pk], "index": 0})
    assert ask.status_code == 200
    assert "Take down the reported remixes?" in ask.content.decode() and remix.image.url in ask.content.decode()
    assert Comment.objects.filter(pk=remix.comment_id).exists()
    path = remix.image.name
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client_.post(
            url,
            {"action": "take_down", "_selected_action": [first.pk], "confirm": "yes", "reason_text": "Not allowed"},
            follow=True,
        )
    assert not Comment.objects.filter(pk=remix.comment_id).exists() and not default_storage.exists(path)
    assert Comment.objects.filter(pk=other.comment_id).exists()
    message = next(str(m) for m in done.context["messages"])
    assert message.startswith(f"Remix job {remix.job_id} taken down: 1 file(s) deleted, gone ")
    assert "1 report(s) resolved" in message
    first.refresh_from_db()
    assert first.status == "taken_down"
    assert Notification.objects.get(kind="remix_taken_down").text.endswith(": Not allowed")
    event = AuditEvent.objects.get(action="takedown")
    assert event.actor_name == "admin" and event.detail["storage_paths"] == [path]
    # The queue still shows the report, with its remix gone.
    assert admin_client_.get(url).status_code == 200


def test_only_moderators_get_the_report_actions(remix: RemixResult, reporter: User) -> None:
    staff = UserFactory(username="helper", is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="view_remixreport"))
    reports.report_file(comment=remix.comment, reporter=reporter, reason="spam")
    page = _web(staff).get("/admin/remix/remixreport/")
    assert page.status_code == 200
    assert "take_down" not in page.content.decode()
    staff.user_permissions.add(Permission.objects.get(codename="change_remixreport"))
    staff = User.objects.get(pk=staff.pk)  # permissions are cached per instance
    assert "take_down" in _web(staff).get("/admin/remix/remixreport/").content.decode()
