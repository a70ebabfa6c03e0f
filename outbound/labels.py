"""Package labels (ZPL and PDF) and shipment packing lists (PDF).

Every document carries the package's SSCC as a GS1-128 barcode: Code 128 that
starts with FNC1 (which is what makes it GS1-128 rather than plain Code 128),
then application identifier 00 and the 18 digits. Scanners at the store's
receiving dock read it as ``(00)<sscc>`` and know it names a handling unit.

- ZPL for Zebra printers: ``^BC`` with ``>;`` (start in code set C, the digits
  two per symbol) and ``>8`` (FNC1) before ``00``; text fields go through
  ``^FH`` so that a ``^`` or ``~`` in an order id or description cannot end a
  field and start a printer command.
- PDF for everything else, drawn by reportlab; its ``Code128`` widget takes
  FNC1 as ``\\xf1`` and computes the check symbol. Nothing is hand-drawn.

The reads for the documents live here as well (``package_for_label``,
``shipment_for_packing_list``): they are the documents' own queries, scoped by
warehouse like every other read (``wms.scoping``). The shipment's contents come
from ``shipment_as_dict``, the contract's JSON, so the paper and the store's
``shipment.confirmed`` event cannot disagree.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from inventory.models import Item
from wms.scoping import scope_by_warehouse

from .models import Package, PackageLine, Shipment
from .services.shipping import shipment_as_dict

SSCC_AI = "00"
FNC1 = "\xf1"  # reportlab's Code128 spells FNC1 this way

# GS1 logistic labels: X-dimension at least 0.495 mm, bars at least 32 mm high.
LABEL_SIZE = (100 * mm, 150 * mm)
LABEL_BAR_WIDTH = 0.495 * mm
LABEL_BAR_HEIGHT = 32 * mm
# The packing list is read at a desk: smaller bars that still scan from paper.
LIST_BAR_WIDTH = 0.33 * mm
LIST_BAR_HEIGHT = 13 * mm

# ZPL: 203 dpi (8 dots/mm), the common Zebra head; a 100 x 150 mm label.
ZPL_DOTS_PER_MM = 8
ZPL_WIDTH = 100 * ZPL_DOTS_PER_MM
ZPL_LENGTH = 150 * ZPL_DOTS_PER_MM
ZPL_MODULE_DOTS = 4  # 0.5 mm: the GS1 minimum X-dimension, rounded up to whole dots
ZPL_BAR_DOTS = 32 * ZPL_DOTS_PER_MM
# Start C, FNC1, ten digit pairs, check symbol (11 modules each) and stop (13).
_ZPL_SYMBOL_MODULES = 13 * 11 + 13

# The multiplication sign of "SKU-1 \u00d7 24 EA"; Latin-1, so every label font has it.
TIMES = "\u00d7"

# A label has room for a summary, not a picking list: the packing list has the rest.
LABEL_MAX_LINES = 8


# --- data ---------------------------------------------------------------------


@dataclass(frozen=True)
class LabelLine:
    sku: str
    description: str
    qty: str
    uom: str


@dataclass(frozen=True)
class PackageLabel:
    """What a package label shows, whatever it is printed on."""

    sscc: str
    warehouse_code: str
    warehouse_name: str
    store_code: str
    external_order_id: str
    package_type_code: str
    package_type_name: str
    weight_kg: Decimal | None
    lines: tuple[LabelLine, ...]


def gs1_128_sscc(sscc: str) -> str:
    """The Code 128 data of an SSCC barcode: FNC1, AI 00, the 18 digits."""
    return f"{FNC1}{SSCC_AI}{sscc}"


def sscc_human_readable(sscc: str) -> str:
    """The text under the bars, as GS1 writes it: the AI in parentheses."""
    return f"({SSCC_AI}) {sscc}"


def _qty(value: Decimal) -> str:
    # As in the contract's JSON: "24", "0.5"; never "24.000" or "2.4E+1".
    return format(value.normalize(), "f")


def package_for_label(*, actor, package_id) -> Package | None:
    """The package if ``actor`` may see its warehouse; None otherwise (a 404: a caller
    learns nothing about other warehouses' packages)."""
    packages = Package.objects.select_related("order__warehouse", "package_type")
    return (
        scope_by_warehouse(packages, actor, lookup="order__warehouse").filter(pk=package_id).first()
    )


def package_label_data(package: Package) -> PackageLabel:
    """The label's content: the package's lines summed per order line, in the order's unit."""
    rows = (
        PackageLine.objects.filter(package=package)
        .values(
            "order_line__line_number",
            "order_line__item__sku",
            "order_line__item__description",
            "order_line__uom__code",
            "order_line__base_units_per_uom",
        )
        .annotate(qty=Sum("qty"))
        .order_by("order_line__line_number")
    )
    lines = tuple(
        LabelLine(
            sku=row["order_line__item__sku"],
            description=row["order_line__item__description"] or "",
            qty=_qty(row["qty"] / (row["order_line__base_units_per_uom"] or Decimal("1"))),
            uom=row["order_line__uom__code"],
        )
        for row in rows
    )
    order = package.order
    return PackageLabel(
        sscc=package.sscc,
        warehouse_code=order.warehouse.code,
        warehouse_name=order.warehouse.name,
        store_code=order.store_code,
        external_order_id=order.external_order_id,
        package_type_code=package.package_type.code,
        package_type_name=package.package_type.name,
        weight_kg=package.weight_kg,
        lines=lines,
    )


def _weight(label: PackageLabel) -> str:
    if label.weight_kg is None:
        return "—"  # still open: weighed when it is closed
    return f"{_qty(label.weight_kg)} kg"


def _summary(label: PackageLabel) -> tuple[list[str], str]:
    """Up to LABEL_MAX_LINES "SKU x qty uom" lines, and "and N more lines" (or "")."""
    shown = [f"{line.sku} {TIMES} {line.qty} {line.uom}" for line in label.lines[:LABEL_MAX_LINES]]
    rest = len(label.lines) - len(shown)
    more = (
        ngettext("and %(count)d more line", "and %(count)d more lines", rest) % {"count": rest}
        if rest
        else ""
    )
    return shown, more


# --- ZPL ----------------------------------------------------------------------


def _zpl_text(value: str) -> str:
    """Field data safe inside ``^FH^FD…^FS``: the command prefixes (^ ~) and the
    hex indicator (_) become ``_XX`` escapes; everything else is UTF-8 (^CI28)."""
    return "".join(f"_{ord(c):02X}" if c in "^~_" else c for c in str(value).replace("\n", " "))


def _zpl_field(x: int, y: int, height: int, value: str) -> str:
    return f"^FO{x},{y}^A0N,{height},{height}^FH^FD{_zpl_text(value)}^FS"


def package_label_zpl(label: PackageLabel) -> str:
    """The label in ZPL II for a 203 dpi printer, 100 x 150 mm."""
    margin = 5 * ZPL_DOTS_PER_MM
    shown, more = _summary(label)
    bar_width = _ZPL_SYMBOL_MODULES * ZPL_MODULE_DOTS
    fields = [
        _zpl_field(margin, 40, 24, _("From")),
        _zpl_field(margin, 70, 30, f"{label.warehouse_code} {label.warehouse_name}"),
        _zpl_field(margin, 130, 24, _("Ship to")),
        _zpl_field(margin, 160, 80, label.store_code),
        _zpl_field(margin, 260, 30, f"{_('Order')}: {label.external_order_id}"),
        _zpl_field(
            margin,
            300,
            30,
            f"{_('Package type')}: {label.package_type_code} ({label.package_type_name})",
        ),
        _zpl_field(margin, 340, 30, f"{_('Gross weight')}: {_weight(label)}"),
        f"^FO{margin},385^GB{ZPL_WIDTH - 2 * margin},3,3^FS",
        _zpl_field(margin, 400, 24, _("Contents")),
        *[_zpl_field(margin, 435 + 34 * n, 28, text) for n, text in enumerate(shown)],
    ]
    if more:
        fields.append(_zpl_field(margin, 435 + 34 * len(shown), 28, more))
    fields += [
        f"^FO{margin},{ZPL_LENGTH - 440}^GB{ZPL_WIDTH - 2 * margin},3,3^FS",
        _zpl_field(margin, ZPL_LENGTH - 420, 28, "SSCC"),
        _zpl_field(margin, ZPL_LENGTH - 385, 40, sscc_human_readable(label.sscc)),
        # ^BC: normal orientation, no printed interpretation line (the text above
        # is the GS1 form), no UCC check digit of ZPL's own: the SSCC carries its
        # check digit. Data: >; start in code set C, >8 FNC1, then AI 00 + SSCC.
        f"^FO{(ZPL_WIDTH - bar_width) // 2},{ZPL_LENGTH - 320}^BY{ZPL_MODULE_DOTS}"
        f"^BCN,{ZPL_BAR_DOTS},N,N,N^FD>;>8{SSCC_AI}{label.sscc}^FS",
    ]
    return "\n".join(
        ["^XA", "^CI28", f"^PW{ZPL_WIDTH}", f"^LL{ZPL_LENGTH}", "^LH0,0", *fields, "^XZ", ""]
    )


# --- PDF ----------------------------------------------------------------------


def _sscc_barcode(sscc: str, *, bar_width: float, bar_height: float) -> Code128:
    # Quiet zones of ten modules on each side, as Code 128 needs to be found.
    return Code128(
        gs1_128_sscc(sscc),
        barWidth=bar_width,
        barHeight=bar_height,
        humanReadable=False,
        quiet=True,
        lquiet=10 * bar_width,
        rquiet=10 * bar_width,
    )


def package_label_pdf(label: PackageLabel) -> bytes:
    """One 100 x 150 mm page, the same content as the ZPL label."""
    buffer = io.BytesIO()
    # invariant: no creation date in the file, so a reprint is the same bytes.
    pdf = Canvas(buffer, pagesize=LABEL_SIZE, invariant=True)
    pdf.setTitle(f"SSCC {label.sscc}")
    pdf.setAuthor(label.warehouse_code)
    width, height = LABEL_SIZE
    left = 5 * mm
    y = height - 9 * mm

    def text(value, size, *, bold=False, gap=1.35):
        nonlocal y
        pdf.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        pdf.drawString(left, y, value)
        y -= size * gap

    text(_("From"), 8)
    text(f"{label.warehouse_code} {label.warehouse_name}", 11)
    text(_("Ship to"), 8)
    text(label.store_code, 28, bold=True, gap=1.1)
    text(f"{_('Order')}: {label.external_order_id}", 11)
    text(f"{_('Package type')}: {label.package_type_code} ({label.package_type_name})", 11)
    text(f"{_('Gross weight')}: {_weight(label)}", 11)
    pdf.line(left, y + 4, width - left, y + 4)
    y -= 4
    text(_("Contents"), 8)
    shown, more = _summary(label)
    for line in shown:
        text(line, 10, gap=1.3)
    if more:
        text(more, 10)

    barcode = _sscc_barcode(label.sscc, bar_width=LABEL_BAR_WIDTH, bar_height=LABEL_BAR_HEIGHT)
    bottom = 8 * mm
    pdf.line(
        left, bottom + LABEL_BAR_HEIGHT + 17 * mm, width - left, bottom + LABEL_BAR_HEIGHT + 17 * mm
    )
    pdf.setFont("Helvetica", 8)
    pdf.drawString(left, bottom + LABEL_BAR_HEIGHT + 12 * mm, "SSCC")
    pdf.setFont("Helvetica-Bold", 14)
    pdf.drawCentredString(
        width / 2, bottom + LABEL_BAR_HEIGHT + 4 * mm, sscc_human_readable(label.sscc)
    )
    barcode.drawOn(pdf, (width - barcode.width) / 2, bottom)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# --- packing list ---------------------------------------------------------------


def shipment_for_packing_list(*, actor, shipment_id) -> Shipment | None:
    """The shipment if ``actor`` may see its warehouse; None otherwise."""
    shipments = Shipment.objects.select_related("warehouse", "dock_door")
    return scope_by_warehouse(shipments, actor).filter(pk=shipment_id).first()


def _local(value) -> str:
    # The instance's time zone with its offset: the paper is read far from the server.
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z") if value else "—"


def shipment_packing_list_pdf(shipment: Shipment) -> bytes:
    """A4 pages: the shipment's header, then each package with its SSCC barcode and lines."""
    data = shipment_as_dict(shipment)
    skus = {line["sku"] for package in data["packages"] for line in package["lines"]}
    descriptions = dict(
        Item.objects.filter(warehouse_id=shipment.warehouse_id, sku__in=skus).values_list(
            "sku", "description"
        )
    )
    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["Normal"], fontSize=8.5, leading=10)
    title = f"{_('Packing list')} {shipment.shipment_number}"

    header = [
        [_("Shipment"), shipment.shipment_number],
        [_("From"), f"{shipment.warehouse.code} {shipment.warehouse.name}"],
        [_("Store"), shipment.store_code],
        [_("Carrier"), shipment.carrier or "—"],
        [_("Tracking"), shipment.tracking_ref or "—"],
        [_("Dock door"), shipment.dock_door.code if shipment.dock_door else "—"],
        [_("Shipped at"), _local(shipment.shipped_at)],
        [
            _("Orders"),
            Paragraph(escape(", ".join(o["externalOrderId"] for o in data["orders"])), small),
        ],
        [_("Packages"), str(len(data["packages"]))],
    ]
    story = [
        Paragraph(escape(title), styles["Title"]),
        _table(header, col_widths=[35 * mm, None], header_row=False),
        Spacer(1, 6 * mm),
    ]
    total = len(data["packages"])
    for n, package in enumerate(data["packages"], start=1):
        heading = _("Package %(n)d of %(total)d") % {"n": n, "total": total}
        facts = (
            f"{package['packageType']} · {_('Gross weight')}: {package['weightKg']} kg · "
            f"SSCC {sscc_human_readable(package['sscc'])}"
        )
        rows = [[_("Order"), _("Line"), "SKU", _("Description"), _("Qty"), _("Unit")]]
        rows += [
            [
                line["externalOrderId"],
                str(line["lineNumber"]),
                line["sku"],
                Paragraph(escape(descriptions.get(line["sku"], "")), small),
                line["qty"],
                line["uom"],
            ]
            for line in package["lines"]
        ]
        block = [
            Paragraph(escape(heading), styles["Heading3"]),
            Paragraph(escape(facts), styles["Normal"]),
            Spacer(1, 2 * mm),
            _sscc_barcode(package["sscc"], bar_width=LIST_BAR_WIDTH, bar_height=LIST_BAR_HEIGHT),
            Spacer(1, 2 * mm),
        ]
        table = _table(
            rows, col_widths=[38 * mm, 12 * mm, 30 * mm, None, 18 * mm, 14 * mm], repeat_rows=1
        )
        # A package's heading and barcode stay with its lines: a block that does not
        # fit starts a new page, one longer than a page splits (its header repeats).
        story += [KeepTogether([*block, table]), Spacer(1, 5 * mm)]

    buffer = io.BytesIO()

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(15 * mm, 10 * mm, title)
        canvas.drawRightString(A4[0] - 15 * mm, 10 * mm, _("Page %(page)d") % {"page": doc.page})
        canvas.restoreState()

    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
        title=title,
        author=shipment.warehouse.code,
        invariant=True,
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def _table(rows, *, col_widths, header_row=True, repeat_rows=0) -> Table:
    available = A4[0] - 30 * mm
    fixed = sum(w for w in col_widths if w)
    widths = [w or available - fixed for w in col_widths]
    table = Table(rows, colWidths=widths, repeatRows=repeat_rows, hAlign="LEFT")
    style = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 9),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.grey),
    ]
    if header_row:
        style += [
            ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9),
            ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
            ("ALIGN", (4, 1), (4, -1), "RIGHT"),
        ]
    else:
        style.append(("FONT", (0, 0), (0, -1), "Helvetica-Bold", 9))
    table.setStyle(TableStyle(style))
    return table
