"""URLs: browser pages, the REST API under /api/, admin, media and /healthz."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from . import health, media, views
from .api.views import endpoint_not_found

urlpatterns = [
    path("", views.feed, name="feed"),
    path("p/<int:pk>/", views.post_detail, name="post-detail"),
    path("p/<int:pk>/comment/", views.comment_create, name="post-comment"),
    path("p/<int:pk>/delete/", views.post_delete, name="post-delete"),
    path("c/<int:pk>/delete/", views.comment_delete, name="comment-delete"),
    path("upload/", views.upload, name="upload"),
    path("u/<str:username>/", views.user_detail, name="user-detail"),
    path("u/<str:username>/follow/", views.follow_toggle, name="user-follow"),
    path("settings/", views.account_settings, name="settings"),
    path("notifications/", views.notifications, name="notifications"),
    path("signup/", views.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The project's URL conf also mounts the feature apps (socialapp's own code never imports them).
    path("", include("remix.urls")),
    path("api/", include("socialapp.api.urls")),
    path("api/", include("remix.api.urls")),
    # The end of the API: any other path under /api/ (an id that is not a number, a typo) is the API's JSON 404,
    # not the site's HTML page. Only paths ending in "/": one without it still gets CommonMiddleware's
    # APPEND_SLASH redirect first. [\s\S] and \Z: a path can hold a newline (%0A).
    re_path(r"^api/(?:[\s\S]*/)?\Z", endpoint_not_found, name="api-not-found"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    # The media gate: every media URL leads here, whatever the storage (socialapp.media).
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", media.serve_media, name="media"),
]
