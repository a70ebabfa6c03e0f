"""GS1 SSCC-18: extension digit, company prefix, serial reference, check digit.

The serial comes from the database sequence ``outbound_sscc_serial`` (never
reused); the company prefix from the warehouse (``gs1_company_prefix``). An
SSCC is 17 data digits and a mod-10 check digit computed as GS1 specifies
(weights 3 and 1 from the right).
"""

DEFAULT_COMPANY_PREFIX = "0000000"  # a placeholder for a warehouse without a GS1 prefix
EXTENSION_DIGIT = "0"


def gs1_check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit of ``digits`` (weights 3, 1, 3, … from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def sscc_for_serial(*, company_prefix: str, serial: int) -> str:
    prefix = company_prefix or DEFAULT_COMPANY_PREFIX
    width = 16 - len(prefix)  # 17 data digits = extension + prefix + serial reference
    if width < 1:
        raise ValueError(f"GS1 company prefix {prefix!r} leaves no room for a serial")
    if serial >= 10**width:
        raise ValueError(f"SSCC serial {serial} does not fit in {width} digits")
    data = f"{EXTENSION_DIGIT}{prefix}{serial:0{width}d}"
    return data + gs1_check_digit(data)


def sscc_is_valid(sscc: str) -> bool:
    return len(sscc) == 18 and sscc.isdigit() and gs1_check_digit(sscc[:17]) == sscc[17]
