"""Inequality segments: deprivation, ethnicity, age and sex labels from patient attributes.

Segmenting outcomes by age, sex, deprivation (IMD) and ethnicity is the stated minimum for
inequality analysis. These helpers turn the attributes a registry records into the labels a
segment monitor is keyed by (``entity_type = "segment"``). Codes follow the NHS Data
Dictionary; anything unrecognised raises ``ValueError`` so that a bad code is rejected at the
boundary instead of becoming a segment of its own.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from itertools import pairwise

DEFAULT_AGE_EDGES: tuple[int, ...] = (50, 60, 70, 80)
NOT_KNOWN = "Not known"

# NHS Data Dictionary ETHNIC CATEGORY (2001 census 16+1 categories): the national code is the
# first character; the second is for local use. Chinese (R) is under "Other Ethnic Groups".
_ETHNIC_GROUPS = {
    **dict.fromkeys("ABC", "White"),
    **dict.fromkeys("DEFG", "Mixed"),
    **dict.fromkeys("HJKL", "Asian"),
    **dict.fromkeys("MNP", "Black"),
    **dict.fromkeys("RS", "Other"),
    "Z": "Not stated",
}

# PERSON STATED GENDER CODE / PERSON PHENOTYPIC SEX codes, plus the labels themselves.
_SEX_LABELS = {
    "1": "Male",
    "M": "Male",
    "MALE": "Male",
    "2": "Female",
    "F": "Female",
    "FEMALE": "Female",
    "9": "Indeterminate",
    "I": "Indeterminate",
    "INDETERMINATE": "Indeterminate",
    "X": NOT_KNOWN,
    "0": NOT_KNOWN,
    "NOT KNOWN": NOT_KNOWN,
}


def imd_quintile(imd_decile: int) -> int:
    """The IMD quintile (1 = most deprived 20%) of an IMD decile (1 = most deprived 10%).

    >>> [imd_quintile(d) for d in range(1, 11)]
    [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    >>> imd_quintile(11)
    Traceback (most recent call last):
    ...
    ValueError: IMD decile must be an integer 1-10, got 11
    """
    try:
        decile = operator.index(imd_decile)  # accepts numpy integers, refuses 3.0 and "3"
    except TypeError:
        decile = 0
    if isinstance(imd_decile, bool) or not 1 <= decile <= 10:
        raise ValueError(f"IMD decile must be an integer 1-10, got {imd_decile!r}")
    return (decile + 1) // 2


def ethnic_group(code: str | None) -> str:
    """The high-level ethnic group of an NHS ETHNIC CATEGORY code.

    Returns one of ``White``, ``Mixed``, ``Asian``, ``Black``, ``Other``, ``Not stated``
    (code Z: asked and declined) or ``Not known`` (default code 99, or missing: not asked).
    Only the first character is national; a local second character is ignored.

    >>> [ethnic_group(c) for c in "ADHMRZ"]
    ['White', 'Mixed', 'Asian', 'Black', 'Other', 'Not stated']
    >>> ethnic_group("A1"), ethnic_group("h"), ethnic_group("99"), ethnic_group(None)
    ('White', 'Asian', 'Not known', 'Not known')
    >>> ethnic_group("Q")
    Traceback (most recent call last):
    ...
    ValueError: not an NHS ethnic category code: 'Q'
    """
    if code is None or code.strip() in ("", "99"):
        return NOT_KNOWN
    text = code.strip().upper()
    group = _ETHNIC_GROUPS.get(text[0]) if len(text) <= 2 else None
    if group is None:
        raise ValueError(f"not an NHS ethnic category code: {code!r}")
    return group


def age_band(age: float, edges: Sequence[int] = DEFAULT_AGE_EDGES) -> str:
    """The age band of ``age`` in completed years, cut at ``edges``.

    ``edges`` are the first ages of each band after the first, strictly increasing:
    the default gives ``<50``, ``50-59``, ``60-69``, ``70-79``, ``80+``.

    >>> [age_band(a) for a in (17, 49.9, 50, 69, 79.99, 80, 103)]
    ['<50', '<50', '50-59', '60-69', '70-79', '80+', '80+']
    >>> [age_band(a, edges=(18, 65)) for a in (5, 18, 64, 65)]
    ['<18', '18-64', '18-64', '65+']
    >>> age_band(62, edges=(60, 61, 65))
    '61-64'
    >>> age_band(60, edges=(60, 61, 65))
    '60'
    """
    if not edges or any(b <= a for a, b in pairwise(edges)) or edges[0] <= 0:
        raise ValueError("age band edges must be positive and strictly increasing")
    if isinstance(age, bool) or not math.isfinite(age) or age < 0:
        raise ValueError(f"age must be a non-negative number, got {age!r}")
    years = math.floor(age)
    if years < edges[0]:
        return f"<{edges[0]}"
    for lo, hi in pairwise(edges):
        if years < hi:
            return f"{lo}" if hi - lo == 1 else f"{lo}-{hi - 1}"
    return f"{edges[-1]}+"


def sex_label(value: str | int | None) -> str:
    """A sex label from an NHS code (1 male, 2 female, 9 indeterminate, X/0 not known) or a
    label already written out (any case); missing is ``Not known``.

    >>> [sex_label(v) for v in (1, "2", "F", "male", "9", "X", None)]
    ['Male', 'Female', 'Female', 'Male', 'Indeterminate', 'Not known', 'Not known']
    """
    if value is None:
        return NOT_KNOWN
    text = str(value).strip().upper()
    if text == "":
        return NOT_KNOWN
    try:
        return _SEX_LABELS[text]
    except KeyError:
        raise ValueError(f"not a sex code or label: {value!r}") from None


def segment_labels(
    age: float | None = None,
    sex: str | int | None = None,
    imd_decile: int | None = None,
    ethnic_category: str | None = None,
    age_edges: Sequence[int] = DEFAULT_AGE_EDGES,
) -> dict[str, str]:
    """All four segment labels of one patient, ``Not known`` where an attribute is missing.

    >>> segment_labels(age=72, sex=2, imd_decile=3, ethnic_category="N")
    {'age_band': '70-79', 'sex': 'Female', 'imd_quintile': '2', 'ethnic_group': 'Black'}
    >>> segment_labels()["imd_quintile"]
    'Not known'
    """
    return {
        "age_band": NOT_KNOWN if age is None else age_band(age, age_edges),
        "sex": sex_label(sex),
        "imd_quintile": NOT_KNOWN if imd_decile is None else str(imd_quintile(imd_decile)),
        "ethnic_group": ethnic_group(ethnic_category),
    }
