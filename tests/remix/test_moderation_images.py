"""Image moderation with the real NudeNet detector (never mocked): benign photos pass, the flagging path is
reached by configuration (classes and threshold under which the detector's real output on a shipped photo
flags it), and flagged uploads are hidden until a moderator approves (or rejects) them, in services and admin.

The "flagging" configuration counts NudeNet's FACE_FEMALE class as a flag: on scikit-image's public-domain
astronaut portrait the detector reports FACE_FEMALE at about 0.72, so a threshold of 0.5 flags it and 0.9
does not. Nothing here depends on a nude image.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient
from skimage import data as skimage_data

from remix import review
from remix.models import AuditEvent
from remix.moderation import images
from socialapp import demo_media
from socialapp.models import Notification, Post, User
from tests.conftest import client_for, media_files
from tests.factories import PostFactory, UserFactory
from tests.remix.conftest import opt_in

pytestmark = pytest.mark.django_db

FLAGGING = {"REMIX_NUDITY_CLASSES": ["FACE_FEMALE"], "REMIX_NUDITY_THRESHOLD": 0.5}


def skimage_photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(skimage_data, name)())


def jpeg(image: Image.Image, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture
def flagging(settings: Any) -> None:
    for name, value in FLAGGING.items():
        setattr(settings, name, value)


@pytest.fixture
def author(db: None) -> User:
    return UserFactory(username="author")


@pytest.fixture
def moderator(db: None) -> User:
    return UserFactory(username="moderator", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client: Client, moderator: User) -> Client:
    client.force_login(moderator)
    return client


def astronaut_upload(name: str = "astronaut.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, jpeg(skimage_photo("astronaut")), content_type="image/jpeg")


def astronaut_video(path: Path, *, seconds: float = 1.0, fps: int = 12, size: tuple[int, int] = (256, 256)) -> Path:
    """A short H.264 video whose every frame (so its poster frame too) is the astronaut portrait."""
    frame_image = skimage_photo("astronaut").resize(size, Image.Resampling.LANCZOS)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for _ in range(round(seconds * fps)):
            for packet in stream.encode(av.VideoFrame.from_image(frame_image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# --- the detector ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["tiles", "strip", "single"])
def test_vectorised_post_processing_gives_nudenet_own_detections(layout: str) -> None:
    """``detect`` replaces NudeNet's per-candidate Python loop with array arithmetic: on photos with several
    detections (faces at several positions and scales, mirrored, padded) the result is exactly NudeNet's."""
    import numpy as np

    portrait = skimage_data.astronaut()
    pictures = {
        "tiles": np.concatenate([np.concatenate([portrait, portrait[:, ::-1]], 1)] * 2, 0),
        "strip": np.concatenate([portrait, portrait[::2, ::2].repeat(2, 0).repeat(2, 1)], 1),
        "single": portrait[40:400, 100:420],
    }
    bgr = np.ascontiguousarray(pictures[layout][:, :, ::-1])
    detector = images.get_detector()
    theirs = detector.detect(bgr)
    assert theirs, "the comparison needs detections"
    assert images._run_detector(detector, bgr) == theirs


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_benign_photos_pass_with_the_default_settings(name: str) -> None:
    verdict = images.check_image(skimage_photo(name))
    assert verdict.flagged is False and verdict.matched == [] and verdict.error is None
    assert verdict.detector == "nudenet" and verdict.detector_version == "3.4.2"
    assert verdict.ms > 0
    if name == "astronaut":  # proof the model really ran: it sees her face, which is not a flag by default
        assert [label["class"] for label in verdict.labels] == ["FACE_FEMALE"]


@pytest.mark.parametrize("scene", demo_media.SCENES)
def test_the_projects_demo_photos_pass(scene: str, tmp_path: Path) -> None:
    with Image.open(demo_media.make_photo(tmp_path / "p.jpg", size=(540, 675), scene=scene)) as photo:
        verdict = images.check_image(photo)
    assert verdict.flagged is False, verdict.labels


def test_configured_classes_and_threshold_flag_the_detectors_real_output(flagging: None, settings: Any) -> None:
    verdict = images.check_image(skimage_photo("astronaut"))
    assert verdict.flagged is True and verdict.error is None
    (match,) = verdict.matched
    assert match["class"] == "FACE_FEMALE" and 0.6 < match["score"] < 0.85
    x, y, w, h = match["box"]
    assert 150 < x < 200 and 50 < y < 110 and 80 < w < 130 and 80 < h < 130  # her face
    assert verdict.as_dict()["classes"] == ["FACE_FEMALE"] and verdict.as_dict()["threshold"] == 0.5

    settings.REMIX_NUDITY_THRESHOLD = 0.9  # the same detection, below the bar
    assert images.check_image(skimage_photo("astronaut")).flagged is False
    settings.REMIX_NUDITY_THRESHOLD = 0.5
    assert images.check_image(skimage_photo("chelsea")).flagged is False  # no face, nothing to flag


def test_big_images_are_downscaled_and_boxes_reported_in_their_pixels(flagging: None) -> None:
    big = skimage_photo("astronaut").resize((2048, 2048), Image.Resampling.LANCZOS)
    verdict = images.check_image(big)
    assert verdict.flagged is True
    x, y, w, h = verdict.matched[0]["box"]
    assert 600 < x < 800 and 200 < y < 440 and 320 < w < 520 and 320 < h < 520  # ≈ 4 × the 512 px box
    from_bytes = images.check_image_bytes(jpeg(big))  # JPEG decoded at a reduced scale, boxes on the full size
    assert from_bytes.flagged is True and abs(from_bytes.matched[0]["box"][0] - x) < 40


def test_a_detector_failure_flags_instead_of_publishing() -> None:
    broken = images.check_image_bytes(b"\xff\xd8\xff not really a jpeg")
    assert broken.flagged is True and broken.error and "decoded" in broken.error
    empty = images.check_image(Image.new("RGB", (0, 0)))  # the detector itself cannot process it
    assert empty.flagged is True and empty.error and "detector failed" in empty.error


# --- upload moderation ----------------------------------------------------------------------------------------------


def test_a_benign_upload_is_published_and_audited(author: User) -> None:
    post = PostFactory(author=author, upload=astronaut_upload())
    assert post.review_state == Post.Review.PUBLISHED
    assert post.moderation["flagged"] is False and post.moderation["labels"][0]["class"] == "FACE_FEMALE"
    event = AuditEvent.objects.get(post_ref=post.pk)
    assert event.action == AuditEvent.Action.UPLOAD_PASSED and event.subject_ref == author.pk
    assert not Notification.objects.filter(recipient=author).exists()


def test_a_flagged_upload_is_hidden_from_everyone_but_its_author_and_staff(
    flagging: None, author: User, viewer: User, moderator: User, api: APIClient, client: Client
) -> None:
    author_api = client_for(author)
    response = author_api.post("/api/posts/", {"media": astronaut_upload(), "caption": "moon day"}, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["review_state"] == "pending"
    post = Post.objects.get(pk=body["id"])
    assert post.review_state == Post.Review.PENDING
    assert post.moderation["flagged"] is True and post.moderation["matched"][0]["class"] == "FACE_FEMALE"

    # Audited with what the detector saw, and the author is told.
    event = AuditEvent.objects.get(post_ref=post.pk)
    assert event.action == AuditEvent.Action.UPLOAD_FLAGGED and event.actor_ref is None
    assert event.detail["matched"][0]["class"] == "FACE_FEMALE" and "FACE_FEMALE" in event.summary
    note = Notification.objects.get(recipient=author)
    assert note.kind == Notification.Kind.POST_HELD and note.post == post
    assert note.text == "Your post is hidden until a moderator reviews it."

    # Others: not in the feed, the author's list, the post, its comments, nor remixable.
    opt_in(author)
    for other in (api, client_for(viewer)):
        assert other.get("/api/posts/").json()["results"] == []
        assert other.get("/api/posts/", {"author": author.username}).json()["results"] == []
        assert other.get(f"/api/posts/{post.pk}/").status_code == 404
        assert other.get(f"/api/posts/{post.pk}/comments/").status_code == 404
    assert client_for(viewer).post(f"/api/posts/{post.pk}/remixes/", {"prompt": "x"}, format="json").status_code in (
        403,
        404,
    )
    assert client.get(f"/p/{post.pk}/").status_code == 404
    assert f"/p/{post.pk}/" not in client.get(f"/u/{author.username}/").content.decode()
    client.force_login(viewer)
    assert client.get(f"/p/{post.pk}/").status_code == 404

    # The author sees it, with the notice; so does staff.
    assert [p["id"] for p in author_api.get("/api/posts/").json()["results"]] == [post.pk]
    assert author_api.get(f"/api/posts/{post.pk}/").json()["review_state"] == "pending"
    client.force_login(author)
    page = client.get(f"/p/{post.pk}/").content.decode()
    assert "Hidden pending review" in page and "only you can see it" in page
    client.force_login(moderator)
    assert "Hidden pending review" in client.get(f"/p/{post.pk}/").content.decode()


def test_a_video_poster_frame_is_checked(flagging: None, author: User, tmp_path: Path, settings: Any) -> None:
    flagged = astronaut_video(tmp_path / "astronaut.mp4")
    post = PostFactory(author=author, upload=SimpleUploadedFile("a.mp4", flagged.read_bytes()))
    assert post.media_type == Post.MediaType.VIDEO
    assert post.review_state == Post.Review.PENDING and post.moderation["matched"][0]["class"] == "FACE_FEMALE"

    settings.REMIX_NUDITY_CLASSES = ["FEMALE_BREAST_EXPOSED"]  # back to nudity classes: the same video passes
    again = PostFactory(author=author, upload=SimpleUploadedFile("a.mp4", flagged.read_bytes()))
    assert again.review_state == Post.Review.PUBLISHED and again.moderation["labels"]

    demo = demo_media.make_video(tmp_path / "demo.mp4", seconds=1, size=(160, 90))
    plain = PostFactory(author=author, upload=SimpleUploadedFile("demo.mp4", demo.read_bytes()))
    assert plain.review_state == Post.Review.PUBLISHED and plain.moderation["flagged"] is False


# --- the moderators' decisions: services ----------------------------------------------------------------------------


@pytest.fixture
def pending_post(flagging: None, author: User) -> Post:
    post = PostFactory(author=author, upload=astronaut_upload(), caption="moon day")
    assert post.review_state == Post.Review.PENDING
    Notification.objects.all().delete()
    return post


def test_approving_publishes_the_post(pending_post: Post, author: User, viewer: User, moderator: User) -> None:
    assert review.post_review_approve(post=pending_post, moderator=moderator) is True
    pending_post.refresh_from_db()
    assert pending_post.review_state == Post.Review.PUBLISHED
    assert client_for(viewer).get(f"/api/posts/{pending_post.pk}/").status_code == 200
    note = Notification.objects.get(recipient=author)
    assert note.kind == Notification.Kind.POST_APPROVED and note.post == pending_post and note.actor is None
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPLOAD_APPROVED)
    assert event.actor_ref == moderator.pk and event.post_ref == pending_post.pk
    assert review.post_review_approve(post=pending_post, moderator=moderator) is False  # decided already
    assert review.post_review_reject(post=pending_post, moderator=moderator) is False  # and not pending
    assert Post.objects.filter(pk=pending_post.pk).exists()


def test_rejecting_deletes_the_post_and_its_files(
    pending_post: Post, author: User, moderator: User, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    post_id = pending_post.pk
    assert media_files(media_root)
    with django_capture_on_commit_callbacks(execute=True):
        assert review.post_review_reject(post=pending_post, moderator=moderator) is True
    assert not Post.objects.filter(pk=post_id).exists()
    assert media_files(media_root) == []
    note = Notification.objects.get(recipient=author)  # kept: it has no post link to cascade
    assert note.kind == Notification.Kind.POST_REJECTED and note.post is None and "moon day" in note.text
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPLOAD_REJECTED)
    assert event.post_ref == post_id and event.actor_ref == moderator.pk and event.category == "sexual"


# --- the moderators' decisions: the admin queue ---------------------------------------------------------------------


def test_the_admin_queue_lists_pending_posts_only(pending_post: Post, staff_client: Client, settings: Any) -> None:
    settings.REMIX_NUDITY_CLASSES = []
    published = PostFactory(caption="a published one")
    listing = staff_client.get("/admin/remix/postunderreview/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert f'src="{pending_post.poster.url}"' in html and "FACE_FEMALE" in html
    assert f'src="{published.poster.url}"' not in html
    assert "Approve: publish the selected posts" in html and "Reject (delete)" in html
    assert "delete_selected" not in html
    assert staff_client.get("/admin/remix/postunderreview/add/").status_code == 403
    page = staff_client.get(f"/admin/remix/postunderreview/{pending_post.pk}/change/").content.decode()
    assert 'name="caption"' not in page and "FACE_FEMALE" in page  # read-only


def test_the_admin_approve_action(pending_post: Post, staff_client: Client, author: User) -> None:
    response = staff_client.post(
        "/admin/remix/postunderreview/", {"action": "approve", "_selected_action": [pending_post.pk]}, follow=True
    )
    assert response.status_code == 200 and "Published 1 post(s)." in response.content.decode()
    pending_post.refresh_from_db()
    assert pending_post.review_state == Post.Review.PUBLISHED
    assert Notification.objects.get(recipient=author).kind == Notification.Kind.POST_APPROVED


def test_the_admin_reject_action_deletes_with_files(
    pending_post: Post, staff_client: Client, author: User, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            "/admin/remix/postunderreview/", {"action": "reject", "_selected_action": [pending_post.pk]}, follow=True
        )
    assert "Rejected and deleted 1 post(s)." in response.content.decode()
    assert not Post.objects.exists()
    assert media_files(media_root) == []
    assert Notification.objects.get(recipient=author).kind == Notification.Kind.POST_REJECTED
