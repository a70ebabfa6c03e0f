"""django-simple-history helpers shared by every app that keeps history."""


def history_user(request=None, **kwargs):
    """The person behind a history record; None for an external system's token.

    django-simple-history takes ``request.user`` by default, which under token
    authentication is a ``SystemPrincipal`` and not a user row.
    """
    user = getattr(request, "user", None)
    return user if getattr(user, "_meta", None) is not None and user.is_authenticated else None
