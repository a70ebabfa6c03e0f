"""Spanish translations: the catalog is complete and compiled, the admin speaks Spanish."""

import gettext
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tests.factories import ItemFactory, UserFactory
from wms import roles

LOCALE = Path(__file__).resolve().parents[2] / "locale" / "es" / "LC_MESSAGES"


def _joined(quoted: str) -> str:
    return "".join(re.findall(r'"(.*)"', quoted))


def po_entries() -> list[tuple[str, str, bool]]:
    """(msgid, msgstr, fuzzy) of every singular entry of the Spanish .po, header excluded."""
    entries = []
    for block in (LOCALE / "django.po").read_text(encoding="utf-8").split("\n\n"):
        match = re.search(r'^msgid ((?:".*"\n)+)msgstr ((?:".*"\n?)+)', block + "\n", re.M)
        if match and _joined(match.group(1)):
            entries.append((_joined(match.group(1)), _joined(match.group(2)), "fuzzy" in block))
    return entries


def po_plural_entries() -> list[tuple[str, list[str], bool]]:
    """(msgid, [msgstr[0], msgstr[1], …], fuzzy) of every plural entry."""
    entries = []
    for block in (LOCALE / "django.po").read_text(encoding="utf-8").split("\n\n"):
        match = re.search(r'^msgid ((?:".*"\n)+)msgid_plural ', block, re.M)
        if match:
            forms = re.findall(r'^msgstr\[\d\] ((?:".*"\n?)+)', block + "\n", re.M)
            entries.append((_joined(match.group(1)), [_joined(f) for f in forms], "fuzzy" in block))
    return entries


def unescape(text: str) -> str:
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


def test_i18n_po_every_string_translated():
    """Every msgid of our catalog has a Spanish msgstr and none is fuzzy."""
    entries = po_entries()
    assert len(entries) > 100
    untranslated = [msgid for msgid, msgstr, _fuzzy in entries if not msgstr]
    fuzzy = [msgid for msgid, _msgstr, is_fuzzy in entries if is_fuzzy]
    untranslated += [msgid for msgid, forms, _fuzzy in po_plural_entries() if not all(forms)]
    fuzzy += [msgid for msgid, _forms, is_fuzzy in po_plural_entries() if is_fuzzy]
    assert untranslated == []
    assert fuzzy == []


def test_i18n_committed_mo_matches_po():
    """The committed .mo holds every translation of the .po (machines without gettext)."""
    with (LOCALE / "django.mo").open("rb") as fp:
        catalog = gettext.GNUTranslations(fp)
    stale = [
        msgid
        for msgid, msgstr, _fuzzy in po_entries()
        if catalog.gettext(unescape(msgid)) != unescape(msgstr)
    ]
    assert stale == []


@pytest.fixture
def supervisor(warehouse):
    user = UserFactory(username="sup-mad", warehouses=[warehouse], first_name="Sara")
    user.groups.add(Group.objects.get(name=roles.SUPERVISOR))
    return user


@pytest.mark.django_db
def test_i18n_admin_in_spanish_with_accept_language(supervisor, warehouse):
    """Accept-Language: es → Spanish site header, model names, columns and item text."""
    ItemFactory(warehouse=warehouse, sku="SKU-1", description_en="Rice", description_es="Arroz")
    client = Client(HTTP_ACCEPT_LANGUAGE="es")
    client.force_login(supervisor)
    response = client.get("/admin/inventory/item/")
    assert response.status_code == 200
    assert response["Content-Language"] == "es"
    text = response.text
    assert '<html lang="es"' in text
    assert "Administración del SGA" in text
    assert "Seleccione artículo a modificar" in text  # Django's own Spanish, our model name
    for label in ("Código de barras / GTIN", "Unidad de medida base", "Almacén", "Ubicaciones"):
        assert label in text
    assert "Arroz" in text and "Rice" not in text


@pytest.mark.django_db
def test_i18n_admin_in_english_by_default(supervisor, warehouse):
    """Without a preference the instance's default language (English) is used."""
    client = Client()
    client.force_login(supervisor)
    text = client.get("/admin/inventory/item/").text
    assert "WMS administration" in text
    assert "Select item to change" in text


@pytest.mark.django_db
def test_i18n_language_switch_changes_admin_language(supervisor):
    """The header's switch posts to set_language and the admin then stays in Spanish."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(supervisor)
    page = client.get("/admin/inventory/location/").text
    assert 'action="/i18n/setlang/"' in page
    assert '<option value="es" lang="es">Español</option>' in page
    assert 'name="next" value="/admin/inventory/location/"' in page

    response = client.post(
        "/i18n/setlang/", {"language": "es", "next": "/admin/inventory/location/"}
    )
    assert response.status_code == 302
    assert response.url == "/admin/inventory/location/"
    page = client.get("/admin/inventory/location/").text
    assert "Seleccione ubicación a modificar" in page
    assert '<option value="es" lang="es" selected>Español</option>' in page


@pytest.mark.django_db
def test_i18n_login_page_has_language_switch():
    """The switch is on the login page too, before anyone is signed in."""
    text = Client(HTTP_ACCEPT_LANGUAGE="es").get("/admin/login/").text
    assert 'id="language-switch"' in text
    assert "Administración del SGA" in text
