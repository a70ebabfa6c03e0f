"""Translated fields (English and Spanish); history registered after translation (STYLE.md)."""

from modeltranslation.translator import TranslationOptions, register
from simple_history import register as history_register

from .models import InventoryStatus, Item, ReasonCode, UnitOfMeasure


@register(Item)
class ItemTranslation(TranslationOptions):
    fields = ("description",)


@register(UnitOfMeasure)
class UnitOfMeasureTranslation(TranslationOptions):
    fields = ("description",)


@register(InventoryStatus)
class InventoryStatusTranslation(TranslationOptions):
    fields = ("description",)


@register(ReasonCode)
class ReasonCodeTranslation(TranslationOptions):
    fields = ("description",)


for _model in (Item, UnitOfMeasure, InventoryStatus, ReasonCode):
    history_register(_model)
