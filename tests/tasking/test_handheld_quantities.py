"""Quantities on the handheld pages read 10 and 2.5, never 1E+1 nor 10.000
(``wms.quantities.qty_text`` and its template filter ``qty``)."""

from decimal import Decimal

import pytest
from django.template import Context, Template

from tasking.models import PickTask
from wms.quantities import qty_text

D = Decimal


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("10.000"), "10"),
        (D("10").normalize(), "10"),  # Decimal("1E+1")
        (D("2.500"), "2.5"),
        (D("0.125"), "0.125"),
        (D("1200.000"), "1200"),
        (D("0.000"), "0"),
        (D("-0.000"), "0"),
        (7, "7"),
        ("3.50", "3.5"),
        (None, ""),
        ("abc", "abc"),  # a bound form's raw input is shown as typed
    ],
)
def test_qty_text_plain_positional(value, text):
    """A quantity is written positionally, trailing zeros dropped, None as nothing."""
    assert qty_text(value) == text


def test_qty_filter_in_templates_also_in_spanish():
    """The ``qty`` filter gives the same text in every language (what the fields accept)."""
    from django.utils import translation

    template = Template("{% load quantities %}{{ a|qty }}|{{ b|qty }}")
    with translation.override("es"):
        text = template.render(Context({"a": D("10").normalize(), "b": D("2.500")}))
    assert text == "10|2.5"


@pytest.fixture
def pablo(client, picker):
    client.force_login(picker)
    return client


@pytest.mark.django_db
def test_pick_pages_show_ten_not_1e1(pablo, release_order):
    """A task of 10 reads "10" on the queue, on the task page and in the quantity field;
    the success message after the confirmation says "Picked 10 EA"."""
    release_order([("SKU-A", 10)])
    taken = pablo.post("/handheld/picking/", {"action": "next"})
    task = PickTask.objects.get(pk=taken["Location"].rstrip("/").split("/")[-1])
    assert task.qty_to_pick == D("10")
    queue = pablo.get("/handheld/picking/").content.decode()
    assert "· 10 EA" in queue and "1E+1" not in queue
    url = f"/handheld/picking/task/{task.pk}/"
    page = pablo.get(url).content.decode()
    assert 'data-testid="task-qty">10 EA<' in page and "1E+1" not in page
    pablo.post(url, {"action": "location", "code": task.from_location.barcode})
    qty_step = pablo.post(
        url, {"action": "item", "location": task.from_location.barcode, "code": task.item.gtin}
    )
    html = qty_step.content.decode()
    assert 'name="qty" id="id_qty" data-scan autocomplete="off" required value="10"' in html
    assert "1E+1" not in html and "10.000" not in html
    form = qty_step.context["qty_form"].initial
    done = pablo.post(
        url,
        {**{k: form[k] for k in ("location", "item", "client_key")}, "qty": form["qty"],
         "action": "confirm"},
        follow=True,
    )  # fmt: skip
    flashes = [str(m) for m in done.context["messages"]]
    assert any(m.startswith("Picked 10 EA of SKU-A from P-01") for m in flashes), flashes


@pytest.mark.django_db
def test_pack_page_shows_plain_quantities(pablo, picked_order, carton):
    """The pack page's picked/packed/left columns read 10 and 5, never 10.000 or 1E+1."""
    page = pablo.get(f"/handheld/picking/pack/{picked_order.pk}/").content.decode()
    assert 'data-testid="left-SKU-A">10<' in page and 'data-testid="left-SKU-B">5<' in page
    assert "1E+1" not in page and "10.000" not in page
