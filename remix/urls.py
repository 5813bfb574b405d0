"""Browser pages of the remix feature (its JSON API is remix/api/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("p/<int:pk>/remix/", views.remix_create, name="remix-create"),
    path("p/<int:pk>/remix-consent/", views.post_remix_consent, name="post-remix-consent"),
    path("remixes/<int:pk>/", views.job_detail, name="remix-job"),
    path("remixes/<int:pk>/cancel/", views.job_cancel, name="remix-job-cancel"),
    path("me/remixes/", views.my_remixes, name="my-remixes"),
    path("settings/remix/", views.remix_settings, name="remix-settings"),
    path("c/<int:pk>/credentials/", views.comment_credentials, name="comment-credentials"),
    path("check/", views.check_image, name="check-image"),
]
