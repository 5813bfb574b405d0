"""The contract holes Schemathesis found (tests/security/test_schemathesis.py), pinned down one by one.

Each was a request the published schema called wrong (or right) that the server treated otherwise: an HTML
page for an unknown API path, a page size or a flag it silently ignored, JSON numbers taken as text and as
booleans, a huge number that crashed float(), a password trimmed on the way in, form encodings the JSON
endpoints claimed to take.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient

from socialapp.models import Comment, Post, User
from tests.factories import PostFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/posts/not-a-number/"),
        ("post", "/api/posts/1.5/comments/"),
        ("delete", "/api/comments/null,null/"),
        ("get", "/api/users/a/b/c/"),
        ("post", "/api/no-such-thing/"),
        ("get", "/api/posts/%0A/remixes/"),  # a newline in the path
        ("get", "/api/"),
    ],
)
def test_an_api_path_that_names_no_endpoint_is_a_json_404(user_api: APIClient, method: str, path: str) -> None:
    response = getattr(user_api, method)(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "detail": "No such API endpoint."}


def test_pages_outside_the_api_keep_the_html_404(client: Client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("page_size", ["0", "101", "-1", "abc", "1.5", "", " 5", "٣"])
def test_a_page_size_outside_1_to_100_is_a_400(user_api: APIClient, page_size: str) -> None:
    response = user_api.get("/api/posts/", {"page_size": page_size})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "page_size" in response.json()["errors"]


def test_page_size_within_limits_is_honoured(user: User, user_api: APIClient) -> None:
    for _ in range(3):
        PostFactory(author=user)
    assert len(user_api.get("/api/posts/", {"page_size": "2"}).json()["results"]) == 2
    assert len(user_api.get("/api/posts/", {"page_size": "100"}).json()["results"]) == 3


@pytest.mark.parametrize(("url", "flag"), [("/api/posts/", "following"), ("/api/me/notifications/", "unread")])
def test_a_flag_that_is_no_boolean_is_a_400(user_api: APIClient, url: str, flag: str) -> None:
    assert user_api.get(url, {flag: "true"}).status_code == 200
    assert user_api.get(url, {flag: "0"}).status_code == 200
    response = user_api.get(url, {flag: "maybe"})
    assert response.status_code == 400 and flag in response.json()["errors"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": 5}, "text"),  # DRF stored "5"
        ({"text": True}, "text"),
        ({"text": ["a"]}, "text"),
    ],
)
def test_json_text_fields_take_text_only(user: User, user_api: APIClient, body: dict[str, Any], field: str) -> None:
    post = PostFactory(author=user)
    response = user_api.post(f"/api/posts/{post.pk}/comments/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert not Comment.objects.exists()


@pytest.mark.parametrize("value", [1, 0, "yes", "on", None])
def test_json_booleans_are_true_or_false(user: User, user_api: APIClient, value: Any) -> None:
    post = PostFactory(author=user)
    response = user_api.patch(f"/api/posts/{post.pk}/", {"allow_remix": value}, format="json")
    assert response.status_code == 400 and "allow_remix" in response.json()["errors"]
    assert user_api.patch(f"/api/posts/{post.pk}/", {"allow_remix": True}, format="json").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"frame_time": 10**400}, "frame_time"),  # float() raised OverflowError: a 500
        ({"frame_time": True}, "frame_time"),  # was 1.0
        ({"frame_time": "1.5"}, "frame_time"),
        ({"seed": "5"}, "seed"),
        ({"seed": 5.5}, "seed"),
        ({"prompt": "x" * 501}, "prompt"),  # the service's limit, now the schema's too
        ({"meme_text": "x" * 201}, "meme_text"),
    ],
)
def test_remix_requests_take_exact_json_types(
    user: User, user_api: APIClient, body: dict[str, Any], field: str
) -> None:
    post = PostFactory(author=user)
    response = user_api.post(f"/api/posts/{post.pk}/remixes/", {"prompt": "make it snow", **body}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_a_password_is_kept_as_typed(api: APIClient) -> None:
    """DRF trimmed it: "  a long passphrase " was stored as "a long passphrase" and the sign-in page, which
    does not trim, then refused the password the person chose."""
    password = "  a long passphrase "
    assert api.post("/api/auth/register/", {"username": "dana", "password": password}, format="json").status_code == 201
    assert api.post("/api/auth/token/", {"username": "dana", "password": password}, format="json").status_code == 200
    trimmed = {"username": "dana", "password": password.strip()}
    assert api.post("/api/auth/token/", trimmed, format="json").json()["code"] == "invalid_credentials"
    browser = Client()
    browser.post("/login/", {"username": "dana", "password": password})
    assert "_auth_user_id" in browser.session


def test_a_username_with_spaces_is_refused_not_trimmed(api: APIClient) -> None:
    response = api.post("/api/auth/register/", {"username": " dana ", "password": "a long passphrase"}, format="json")
    assert response.status_code == 400 and "username" in response.json()["errors"]


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/api/auth/register/", {"username": "dana", "password": "a long passphrase"}),
        ("patch", "/api/me/", {"bio": "hello"}),
    ],
)
@pytest.mark.parametrize("encoding", ["multipart", "form"])
def test_json_endpoints_refuse_form_encodings(
    user_api: APIClient, method: str, url: str, body: dict[str, str], encoding: str
) -> None:
    if encoding == "form":
        response = getattr(user_api, method)(url, urlencode(body), content_type="application/x-www-form-urlencoded")
    else:
        response = getattr(user_api, method)(url, body, format="multipart")
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"


def test_uploads_refuse_urlencoded_bodies(user_api: APIClient) -> None:
    """A file cannot travel form-urlencoded, so the schema no longer offers it and the server says so."""
    response = user_api.post("/api/posts/", "caption=hi&media=abc", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_a_form_field_sent_twice_is_refused(user_api: APIClient) -> None:
    """A JSON body cannot repeat a key, so a form may not either: "the last one wins" is no answer."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), "teal").save(buffer, "JPEG")
    body = {"media": SimpleUploadedFile("a.jpg", buffer.getvalue()), "caption": ["one", "two"]}
    response = user_api.post("/api/posts/", body, format="multipart")
    assert response.status_code == 400 and "caption" in response.json()["errors"]
    assert not Post.objects.exists()


def test_an_empty_file_to_check_is_an_invalid_image(api: APIClient) -> None:
    response = api.post("/api/credentials/verify/", {"image": SimpleUploadedFile("x.jpg", b"")}, format="multipart")
    assert response.status_code == 400 and response.json()["code"] == "invalid_media"


def test_the_schema_states_the_rules_the_server_enforces(api: APIClient) -> None:
    schema = api.get("/api/schema/", {"format": "json"}).json()
    bodies = schema["paths"]["/api/auth/register/"]["post"]["requestBody"]["content"]
    assert set(bodies) == {"application/json"}
    assert set(schema["paths"]["/api/posts/"]["post"]["requestBody"]["content"]) == {"multipart/form-data"}
    page_size = next(p for p in schema["paths"]["/api/posts/"]["get"]["parameters"] if p["name"] == "page_size")
    assert page_size["schema"] == {"type": "integer", "minimum": 1, "maximum": 100}
    remix = schema["components"]["schemas"]["RemixRequestRequest"]["properties"]
    assert remix["prompt"]["maxLength"] == 500 and remix["meme_text"]["maxLength"] == 200
    comment = schema["components"]["schemas"]["CommentCreateRequest"]["properties"]["text"]
    assert comment["pattern"].startswith("^[^\\u0000]*[^\\u0000\\u0009-\\u000d")
    for path in ("/api/posts/", "/api/posts/{id}/comments/", "/api/me/remixes/"):
        assert {"400", "404"} <= set(schema["paths"][path]["get"]["responses"])


# --- the pen test's low findings (14-17) --------------------------------------------------------------------------


def _cursor(position: str) -> str:
    import base64

    return base64.b64encode(urlencode({"p": position}).encode()).decode()


@pytest.mark.parametrize(
    "position",
    [
        "0001-01-01T00:00:00+23:59|5",  # was a 500 (OverflowError) on every cursor list
        "9999-12-31T23:59:59-23:59|1",
        "9999-12-31T23:59:59.999999+00:00|99999999999999999999999",
        "2026-13-01T00:00:00+00:00|1",
    ],
)
@pytest.mark.parametrize("url", ["/api/posts/", "/api/me/notifications/", "/api/me/remixes/", "comments"])
def test_forged_cursors_are_404s_never_500s(user: User, user_api: APIClient, position: str, url: str) -> None:
    if url == "comments":
        url = f"/api/posts/{PostFactory(author=user).pk}/comments/"
    response = user_api.get(url, {"cursor": _cursor(position)})
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.parametrize("before", ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "not a date"])
def test_forged_page_cursors_on_the_feed_and_user_pages_are_ignored(user: User, before: str) -> None:
    PostFactory(author=user)
    for url in ("/", f"/u/{user.username}/"):
        assert Client().get(url, {"before": before, "id": "1"}).status_code == 200
    assert Client().get("/", {"before": "2026-01-01T00:00:00+00:00", "id": "9" * 30}).status_code == 200


def test_a_requester_cannot_delete_their_held_or_reported_remix_and_deletions_are_audited(
    user: User, django_capture_on_commit_callbacks: object
) -> None:
    from remix import reports
    from remix.models import AuditEvent, RemixJob
    from tests.conftest import client_for
    from tests.remix.conftest import opt_in
    from tests.remix.remixes import finished_remix

    creator = PostFactory().author
    opt_in(creator)
    post = PostFactory(author=creator, allow_remix=True)
    held = finished_remix(post, user)
    RemixJob.objects.filter(pk=held.job_id).update(status=RemixJob.Status.HELD)
    mine = client_for(user)
    refused = mine.delete(f"/api/comments/{held.comment_id}/")
    assert refused.status_code == 403 and "waiting for a moderator" in refused.json()["detail"]
    assert client_for(creator).delete(f"/api/comments/{held.comment_id}/").status_code == 403
    assert Comment.objects.filter(pk=held.comment_id).exists()

    reported = finished_remix(post, user)
    reports.report_file(comment=reported.comment, reporter=UserFactory(), reason="harassment")
    assert mine.delete(f"/api/comments/{reported.comment_id}/").status_code == 403
    assert Comment.objects.filter(pk=reported.comment_id).exists()

    free = finished_remix(post, user)
    assert mine.delete(f"/api/comments/{free.comment_id}/").status_code == 204
    event = AuditEvent.objects.get(action="remix.deleted", comment_ref=free.comment_id)
    assert event.actor_ref == user.pk and "deleted by its requester" in event.summary


def test_a_client_request_id_is_scoped_to_its_post(user: User) -> None:
    """Reusing an idempotency key on a post that refuses remixes answered 202 with the first post's job."""
    from tests.conftest import client_for
    from tests.remix.conftest import opt_in

    creator = PostFactory().author
    opt_in(creator)
    open_post = PostFactory(author=creator, allow_remix=True)
    closed_post = PostFactory(author=creator, allow_remix=False)
    api = client_for(user)
    body = {"prompt": "make it snow", "client_request_id": "retry-1"}
    first = api.post(f"/api/posts/{open_post.pk}/remixes/", body, format="json")
    assert first.status_code == 202
    again = api.post(f"/api/posts/{open_post.pk}/remixes/", body, format="json")
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    elsewhere = api.post(f"/api/posts/{closed_post.pk}/remixes/", body, format="json")
    assert elsewhere.status_code == 403 and elsewhere.json()["reason"] == "post_disabled"


def test_the_browsable_api_is_off(user_api: APIClient) -> None:
    response = user_api.get("/api/posts/", HTTP_ACCEPT="text/html")
    assert response.status_code in (200, 406)
    assert not response["Content-Type"].startswith("text/html")


def test_answers_name_no_software_versions(client: Client) -> None:
    for path in ("/", "/api/posts/", "/healthz"):
        assert client.get(path)["Server"] == "remix"
