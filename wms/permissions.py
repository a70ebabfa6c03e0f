"""DRF permission: who may call a view, by system type (tokens) or model permission (people).

A view declares ``allowed_system_types`` (external systems by type) and
``required_user_perms`` (people with a session). A valid token of a system type
that is not allowed gets 403, never 401.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission


class ActorPermission(BasePermission):
    message = "This client may not perform this action."

    def has_permission(self, request, view):
        actor = request.user
        if actor is None or not getattr(actor, "is_authenticated", False):
            return False
        system = getattr(actor, "system", None)
        if system is not None:
            allowed = getattr(view, "allowed_system_types", ())
            if isinstance(allowed, dict):
                allowed = allowed.get("read" if request.method in SAFE_METHODS else "write", ())
            if system.type not in allowed:
                self.message = (
                    f"A {system.type} system may not call {request.method} {request.path}."
                )
                return False
            return True
        perms = getattr(view, "required_user_perms", ())
        if isinstance(perms, dict):
            perms = perms.get("read" if request.method in SAFE_METHODS else "write", ())
        return actor.is_superuser or all(actor.has_perm(p) for p in perms)
