from django.urls import path

from . import safety_views, views

urlpatterns = [
    path("me/remix-settings/", views.RemixSettingsView.as_view(), name="api-remix-settings"),
    path("me/remix-settings/ledger/", views.ConsentLedgerView.as_view(), name="api-consent-ledger"),
    path(
        "me/remix-settings/remove-all/",
        safety_views.RemoveAllRemixesView.as_view(),
        name="api-remix-remove-all",
    ),
    path("me/remix-blocks/", safety_views.RemixBlockListView.as_view(), name="api-remix-blocks"),
    path("me/remix-blocks/<str:username>/", safety_views.RemixBlockDetailView.as_view(), name="api-remix-block"),
    path("me/remixes/", views.MyRemixesView.as_view(), name="api-my-remixes"),
    path("posts/<int:pk>/remixes/", views.RemixCreateView.as_view(), name="api-remix-create"),
    path("remixes/<int:pk>/", views.RemixDetailView.as_view(), name="api-remix"),
    path("remixes/<int:pk>/cancel/", views.RemixCancelView.as_view(), name="api-remix-cancel"),
    path("comments/<int:pk>/report/", safety_views.CommentReportView.as_view(), name="api-comment-report"),
    path("comments/<int:pk>/credentials/", views.CommentCredentialsView.as_view(), name="api-comment-credentials"),
    path("credentials/verify/", views.VerifyCredentialsView.as_view(), name="api-credentials-verify"),
]
