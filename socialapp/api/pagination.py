from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    """Cursor pages (``results``, ``next``, ``previous``): stable while new posts arrive."""

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 100


class OldestFirstCursorPagination(NewestFirstCursorPagination):
    ordering = ("created_at", "id")
