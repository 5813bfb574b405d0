from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from . import views

urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="api-register"),
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("auth/token/revoke/", views.TokenRevokeView.as_view(), name="api-token-revoke"),
    path("auth/token/refresh/", views.TokenRefreshView.as_view(), name="api-token-refresh"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("me/notifications/", views.NotificationListView.as_view(), name="api-notifications"),
    path("me/notifications/read-all/", views.NotificationsReadAllView.as_view(), name="api-notifications-read-all"),
    path("me/notifications/<int:pk>/read/", views.NotificationReadView.as_view(), name="api-notification-read"),
    path("users/<str:username>/", views.UserDetailView.as_view(), name="api-user"),
    path("users/<str:username>/follow/", views.FollowView.as_view(), name="api-follow"),
    path("posts/", views.PostListView.as_view(), name="api-posts"),
    path("posts/<int:pk>/", views.PostDetailView.as_view(), name="api-post"),
    path("posts/<int:pk>/comments/", views.CommentListView.as_view(), name="api-post-comments"),
    path("comments/<int:pk>/", views.CommentDetailView.as_view(), name="api-comment"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", views.ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
]
