"""Read the barcodes of a PDF as a scanner would: render each page to pixels
(pypdfium2, Chrome's PDF engine) and decode them (zxing-cpp).

A test that only inspected the PDF's drawing commands would pass for bars that
no scanner can read; this one fails unless the bars decode.
"""

from __future__ import annotations

import pypdfium2
import zxingcpp

# 300 dpi: a 0.33 mm module is about 4 pixels, well above what the decoder needs.
RENDER_DPI = 300


def decode_pdf_barcodes(pdf_bytes: bytes, *, gs1_only: bool = True) -> list[str]:
    """The payloads of the PDF's linear barcodes, page by page, top to bottom.

    GS1 barcodes come back as their element string without parentheses
    (``00`` + SSCC: "00084123450000000017"); with ``gs1_only`` (the default)
    a Code 128 without the leading FNC1 is left out, so a plain Code 128 that
    merely holds the same digits does not pass for a GS1-128.
    """
    document = pypdfium2.PdfDocument(pdf_bytes)
    found: list[str] = []
    try:
        for page in document:
            image = page.render(scale=RENDER_DPI / 72).to_pil()
            results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.AllLinear)
            results.sort(key=lambda r: (r.position.top_left.y, r.position.top_left.x))
            for result in results:
                if result.content_type == zxingcpp.ContentType.GS1:
                    found.append(result.bytes.decode("ascii"))
                elif not gs1_only:
                    found.append(result.text)
    finally:
        document.close()
    return found
