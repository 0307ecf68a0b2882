"""Validation of the identifiers registries send: NHS number, ODS code, GMC number, GTIN.

The rules are those in ``domain.md``. Each validator returns the normalised identifier or
raises ``ValueError`` with a message that never repeats the value (it may be personal data).
"""

from __future__ import annotations

import re
import unicodedata

_WEIGHT_SUM = 54  # 10 + 9 + … + 2, to undo the ASCII offset of the digits


def nhs_number(value: str) -> str:
    """Check an NHS number's Modulus 11 check digit; return it without spaces.

    >>> nhs_number("943 476 5919")
    '9434765919'
    >>> nhs_number("9434765918")
    Traceback (most recent call last):
    ...
    ValueError: NHS number fails the Modulus 11 check
    """
    digits = value.replace(" ", "").replace("-", "") if not value.isdigit() else value
    if len(digits) != 10 or not digits.isdigit() or not digits.isascii():
        raise ValueError("NHS number must be 10 digits")
    b = digits.encode()  # unrolled: this runs once per event on the ingest hot path
    total = (10 * b[0] + 9 * b[1] + 8 * b[2] + 7 * b[3] + 6 * b[4] + 5 * b[5] + 4 * b[6]
             + 3 * b[7] + 2 * b[8] - 48 * _WEIGHT_SUM)
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10 or check != int(digits[9]):
        raise ValueError("NHS number fails the Modulus 11 check")
    return digits


def gtin(value: str) -> str:
    """Check a GTIN-8/12/13/14 (a device's UDI-DI); return it padded to 14 digits.

    >>> gtin("05012345678900")
    '05012345678900'
    >>> gtin("96385074")
    '00000096385074'
    >>> gtin("5012345678901")
    Traceback (most recent call last):
    ...
    ValueError: GTIN fails the GS1 check digit
    """
    if len(value) not in (8, 12, 13, 14) or not value.isdigit() or not value.isascii():
        raise ValueError("GTIN must have 8, 12, 13 or 14 digits")
    padded = value.zfill(14)
    b = padded.encode()  # weights 3,1,3,… from the right of the 13 data digits
    odd = b[0] + b[2] + b[4] + b[6] + b[8] + b[10] + b[12] - 7 * 48
    even = b[1] + b[3] + b[5] + b[7] + b[9] + b[11] - 6 * 48
    total = 3 * odd + even
    if (10 - total % 10) % 10 != b[13] - 48:
        raise ValueError("GTIN fails the GS1 check digit")
    return padded


ODS_CODE = r"^[A-Z0-9]{3,6}$"
"""ODS code shape: uppercase letters and digits; trusts 3 characters, sites 5, others up to 6."""

ODS_SITE_CODE = r"^[A-Z0-9]{5}$"
"""A site code is a five-character ODS code (RXF05)."""

ICB_CODE = r"^Q[A-Z0-9]{2}$"
"""An integrated care board's ODS code: three characters, starting with Q (QWE, QE1). It
names an area, not a person."""

GMC_NUMBER = r"^[0-9]{7}$"
"""GMC reference number: 7 digits, no check digit."""

ETHNIC_CATEGORIES = frozenset("ABCDEFGHJKLMNPRSZ")
"""NHS ethnic category codes (2001 census categories), Z = not stated."""


# The written forms of an NHS number: ten digits, plain or grouped 3-3-4 by separators
# (``943 476 5919``, ``943-476-5919``, ``943.476.5919``). ``\d`` matches any
# Unicode decimal digit (full-width ``９`` too): a human reads those as the same number.
_SEPARATOR = "[ .\\-_/\u00a0\u2009\u2010\u2011\u2012\u2013\u2014]"
NHS_NUMBER_LIKE = re.compile(
    rf"(?<!\d)\d{{3}}{_SEPARATOR}?\d{{3}}{_SEPARATOR}?\d{{4}}(?!\d)")
"""Anything written like an NHS number, whether or not its check digit holds."""


def nhs_number_digits(text: str) -> str:
    """The ASCII digits of a written NHS number (any separators and digit forms).

    >>> nhs_number_digits("943.476.5919"), nhs_number_digits("９４３４７６５９１９")
    ('9434765919', '9434765919')
    """
    return "".join(str(unicodedata.decimal(c)) for c in text if c.isdecimal())


def nhs_numbers_in(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, digits)`` of each NHS number written in ``text``: a run shaped like
    one (``NHS_NUMBER_LIKE``) whose Modulus 11 check digit holds. Used to screen
    identifiers and free text, which must not carry one.

    >>> nhs_numbers_in("EP-943 476 5919/2"), nhs_numbers_in("EP-9434765918")
    ([(3, 15, '9434765919')], [])
    """
    if len(text) < 10:
        return []
    found = []
    for match in NHS_NUMBER_LIKE.finditer(text):
        digits = nhs_number_digits(match.group())
        try:
            nhs_number(digits)
        except ValueError:
            continue
        found.append((match.start(), match.end(), digits))
    return found
