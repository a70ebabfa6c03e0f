from rest_framework.pagination import CursorPagination as DrfCursorPagination


class CursorPagination(DrfCursorPagination):
    """Cursor pagination with ``limit`` (contract: lists take ``limit`` and ``next``)."""

    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000
    ordering = "-pk"
