"""Inequality segment labels."""

from __future__ import annotations

import numpy as np
import pytest

from signals.segments import age_band, ethnic_group, imd_quintile, segment_labels, sex_label


def test_imd_quintile_pairs_deciles() -> None:
    assert [imd_quintile(d) for d in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert imd_quintile(np.int64(7)) == 4
    for bad in (0, 11, 3.0, "3", True, None):
        with pytest.raises(ValueError):
            imd_quintile(bad)  # type: ignore[arg-type]


def test_ethnic_groups_follow_the_data_dictionary() -> None:
    want = {
        "White": "ABC",
        "Mixed": "DEFG",
        "Asian": "HJKL",
        "Black": "MNP",
        "Other": "RS",  # Chinese (R) is under "Other Ethnic Groups" in the 2001 categories
        "Not stated": "Z",
    }
    for group, letters in want.items():
        assert {ethnic_group(c) for c in letters} == {group}
    assert ethnic_group("b") == "White" and ethnic_group(" N2 ") == "Black"
    assert {ethnic_group(c) for c in ("99", "", None)} == {"Not known"}
    for bad in ("I", "O", "Q", "T", "X", "9", "ABC"):
        with pytest.raises(ValueError):
            ethnic_group(bad)


def test_age_bands_default_and_configurable() -> None:
    ages = [0, 49, 49.99, 50, 59.5, 60, 70, 79, 80, 110]
    assert [age_band(a) for a in ages] == [
        "<50", "<50", "<50", "50-59", "50-59", "60-69", "70-79", "70-79", "80+", "80+",
    ]  # fmt: skip
    assert [age_band(a, edges=(18, 40, 65, 75)) for a in (17, 18, 39, 40, 74, 75)] == [
        "<18", "18-39", "18-39", "40-64", "65-74", "75+",
    ]  # fmt: skip
    for bad_edges in ((), (60, 50), (50, 50), (0, 10)):
        with pytest.raises(ValueError):
            age_band(40, edges=bad_edges)
    for bad_age in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            age_band(bad_age)


def test_sex_labels() -> None:
    assert [sex_label(v) for v in (1, "1", "M", "Male", 2, "f", "FEMALE", 9, "X", 0, None, "")] == [
        "Male", "Male", "Male", "Male", "Female", "Female", "Female", "Indeterminate",
        "Not known", "Not known", "Not known", "Not known",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        sex_label("3")


def test_segment_labels() -> None:
    assert segment_labels(age=45, sex="F", imd_decile=10, ethnic_category="Z") == {
        "age_band": "<50",
        "sex": "Female",
        "imd_quintile": "5",
        "ethnic_group": "Not stated",
    }
    assert set(segment_labels().values()) == {"Not known"}
