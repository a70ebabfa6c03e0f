"""Identity of this WMS instance (seed 002: WMSInstance), from settings."""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class InstanceIdentity:
    id: str
    region: str
    country: str
    locale: str
    currency: str
    time_zone: str


def current_instance() -> InstanceIdentity:
    return InstanceIdentity(
        id=settings.WMS_INSTANCE_ID,
        region=settings.WMS_REGION,
        country=settings.WMS_COUNTRY,
        locale=settings.WMS_LOCALE,
        currency=settings.WMS_CURRENCY,
        time_zone=settings.TIME_ZONE,
    )
