"""DRF fields shared by every app's API (the JSON boundary of CONTRACT.md)."""

from django.utils.dateparse import parse_datetime
from rest_framework import serializers


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an offset; a timestamp without one is refused, not guessed."""

    default_error_messages = {"naive": "Give the timestamp with its UTC offset (ISO 8601)."}

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value)
            except ValueError:  # well formed, impossible (minute 61): DRF refuses it below
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        return super().to_internal_value(value)
