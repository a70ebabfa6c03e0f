"""Admin of the integration layer: external systems and their tokens, the message
log, webhook subscriptions and deliveries (failures and replay).

Secrets are shown once: an API token key when a system is created or its token
rotated, a webhook secret when a subscription is created or its secret rotated.
Nothing secret is stored or displayed afterwards (tokens show their prefix;
hashes and salts are never on a page). People who are not superusers see the
systems granted one of their warehouses, and those systems' messages,
subscriptions and deliveries.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from wms.admin_scoping import ScopedRowsMixin
from wms.exceptions import DomainError
from wms.scoping import warehouses_visible_to

from .models import (
    ApiToken,
    DeliveryStatus,
    ExternalSystem,
    IntegrationMessage,
    WebhookDelivery,
    WebhookSubscription,
)
from .services import api_token_rotate
from .webhooks import (
    deliveries_replay,
    webhook_event_types_clean,
    webhook_secret,
    webhook_secret_rotate,
)


def _visible_systems(request):
    systems = ExternalSystem.objects.all()
    if request.user.is_superuser:
        return systems
    visible = warehouses_visible_to(request.user)
    return systems.filter(warehouses__in=visible).distinct()


class _SystemScopedMixin(ScopedRowsMixin):
    """Rows of the systems granted one of the user's warehouses (actions and history
    pages too: ``ScopedRowsMixin``)."""

    system_lookup = "system"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(
            **{f"{self.system_lookup}__in": _visible_systems(request).values("pk")}
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "system":
            kwargs["queryset"] = _visible_systems(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def _show_secret_once(request, label, secret):
    messages.warning(
        request,
        format_html(
            "{}: <code>{}</code> — {}",
            label,
            secret,
            _("copy it now: it will not be shown again."),
        ),
    )


# --- external systems and tokens ---------------------------------------------------


class ApiTokenInline(admin.TabularInline):
    model = ApiToken
    fields = ["prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = _("API tokens (key prefix only; the key is shown once when issued)")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ExternalSystem)
class ExternalSystemAdmin(_SystemScopedMixin, SimpleHistoryAdmin):
    system_lookup = "pk"
    list_display = ["code", "name", "type", "is_active", "endpoint_url", "created_at"]
    list_filter = ["type", "is_active"]
    search_fields = ["code", "name"]
    filter_horizontal = ["warehouses"]
    inlines = [ApiTokenInline]
    actions = ["rotate_tokens"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "warehouses":
            kwargs["queryset"] = warehouses_visible_to(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def response_add(self, request, obj, post_url_continue=None):
        # After the warehouses were saved too: issue the first token, show it once.
        if not obj.tokens.filter(revoked_at__isnull=True).exists():
            key = api_token_rotate(system=obj)
            _show_secret_once(request, _("API token of %(code)s") % {"code": obj.code}, key)
        return super().response_add(request, obj, post_url_continue)

    @admin.action(
        description=_("Rotate API token (revokes the current one, shows the new key once)"),
        permissions=["change"],
    )
    def rotate_tokens(self, request, queryset):
        for system in queryset:
            key = api_token_rotate(system=system)
            _show_secret_once(request, _("New API token of %(code)s") % {"code": system.code}, key)


# --- message log ----------------------------------------------------------------------


@admin.register(IntegrationMessage)
class IntegrationMessageAdmin(_SystemScopedMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "occurred_at",
        "system",
        "direction",
        "message_type",
        "status",
        "http_status",
        "idempotency_key",
        "correlation_id",
    ]
    list_filter = ["direction", "status", "system"]
    search_fields = ["=idempotency_key", "=correlation_id", "message_type", "=payload_ref"]
    date_hierarchy = "occurred_at"
    list_select_related = ["system"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- webhooks ----------------------------------------------------------------------------


class WebhookSubscriptionForm(forms.ModelForm):
    event_types = forms.CharField(
        label=_("event types"),
        help_text=_('Space- or comma-separated, e.g. "order.* shipment.confirmed"; "*" for all.'),
    )

    class Meta:
        model = WebhookSubscription
        fields = ["system", "url", "event_types", "max_attempts", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["event_types"] = " ".join(self.instance.event_types or [])

    def clean_event_types(self):
        try:
            return webhook_event_types_clean(self.cleaned_data["event_types"])
        except DomainError as exc:
            raise forms.ValidationError(exc.detail) from exc


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(_SystemScopedMixin, SimpleHistoryAdmin):
    form = WebhookSubscriptionForm
    list_display = ["id", "system", "url", "event_type_list", "max_attempts", "is_active"]
    list_filter = ["is_active", "system"]
    search_fields = ["url", "system__code"]
    actions = ["rotate_secrets"]

    @admin.display(description=_("event types"))
    def event_type_list(self, obj):
        return ", ".join(obj.event_types or [])

    def save_model(self, request, obj, form, change):
        if not change:
            import secrets

            obj.secret_salt = secrets.token_hex(16)
        super().save_model(request, obj, form, change)
        if not change:
            _show_secret_once(
                request,
                _("Signing secret of subscription %(id)s") % {"id": obj.pk},
                webhook_secret(subscription=obj),
            )

    @admin.action(
        description=_("Rotate signing secret (shows the new secret once)"),
        permissions=["change"],
    )
    def rotate_secrets(self, request, queryset):
        for subscription in queryset:
            secret = webhook_secret_rotate(subscription=subscription)
            _show_secret_once(
                request,
                _("New signing secret of subscription %(id)s") % {"id": subscription.pk},
                secret,
            )


class FailureFilter(admin.SimpleListFilter):
    title = _("failures")
    parameter_name = "failures"

    def lookups(self, request, model_admin):
        return [
            ("all", _("All failures (retrying or dead)")),
            ("dead", _("Dead letters")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "all":
            return queryset.filter(status__in=[DeliveryStatus.RETRYING, DeliveryStatus.DEAD])
        if self.value() == "dead":
            return queryset.filter(status=DeliveryStatus.DEAD)
        return queryset


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_SystemScopedMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "system",
        "kind",
        "event_type",
        "status",
        "attempts",
        "max_attempts",
        "last_http_status",
        "next_attempt_at",
    ]
    list_filter = [FailureFilter, "status", "kind", "system"]
    search_fields = ["=event_id", "=idempotency_key", "=correlation_id", "url"]
    date_hierarchy = "created_at"
    list_select_related = ["system"]
    exclude = ["body", "claimed_until"]
    readonly_fields = ["pretty_body"]
    actions = ["replay_deliveries"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        names = [f.name for f in self.model._meta.fields if f.name not in self.exclude]
        return [*names, "pretty_body"]

    @admin.display(description=_("body"))
    def pretty_body(self, obj):
        try:
            text = json.dumps(json.loads(obj.body), indent=2, ensure_ascii=False)
        except ValueError:
            text = obj.body
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", text)

    @admin.action(
        description=_("Replay: deliver the selected failed deliveries again, fresh retry budget"),
        permissions=["change"],
    )
    def replay_deliveries(self, request, queryset):
        count = deliveries_replay(delivery_ids=queryset.values_list("id", flat=True))
        self.message_user(
            request,
            ngettext(
                "%(count)d delivery queued again.", "%(count)d deliveries queued again.", count
            )
            % {"count": count},
            messages.SUCCESS,
        )
