"""Browser pages of the remix feature (its JSON API is remix/api/urls.py)."""

from django.urls import path

from . import safety_views, views

urlpatterns = [
    path("p/<int:pk>/remix/", views.remix_create, name="remix-create"),
    path("p/<int:pk>/remix-consent/", views.post_remix_consent, name="post-remix-consent"),
    path("remixes/<int:pk>/", views.job_detail, name="remix-job"),
    path("remixes/<int:pk>/cancel/", views.job_cancel, name="remix-job-cancel"),
    path("me/remixes/", views.my_remixes, name="my-remixes"),
    path("settings/remix/", views.remix_settings, name="remix-settings"),
    path("c/<int:pk>/credentials/", views.comment_credentials, name="comment-credentials"),
    path("check/", views.check_image, name="check-image"),
    # Trust and safety: reports, blocks, removing every remix.
    path("c/<int:pk>/report/", safety_views.comment_report, name="comment-report"),
    path("u/<str:username>/remix-block/", safety_views.user_remix_block, name="user-remix-block"),
    path("settings/remix/safety/", safety_views.remix_safety, name="remix-safety"),
    path("settings/remix/remove-all/", safety_views.remix_remove_all, name="remix-remove-all"),
]
