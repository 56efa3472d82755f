from decimal import Decimal

import pytest

from registry.domain.dicom import is_uid, parse_age_string
from registry.domain.intended_use import Study, check_intended_use, validate_spec

BONEXPERT = {"modalities": ["CR", "DX"], "body_parts": ["HAND"],
             "age_years_by_sex": {"M": {"min": 0, "max": 19}, "F": {"min": 0, "max": 18}}}
CINA = {"modalities": ["CT"], "age_years": {"min": 18}, "contrast": "required"}


@pytest.mark.parametrize("value, years", [
    ("009Y", Decimal(9)), ("018M", Decimal("1.5")), ("000D", Decimal(0)),
    ("052W", Decimal(52 * 7) / Decimal("365.25")), ("120Y", Decimal(120)),
])
def test_dicom_age_strings(value, years):
    assert abs(parse_age_string(value) - years) < Decimal("1e-20")


@pytest.mark.parametrize("bad", ["9Y", "009", "009y", "0009Y", "09.5Y", "-01Y", "", "009X", "ABCY"])
def test_malformed_dicom_age_strings_are_refused(bad):
    with pytest.raises(ValueError):
        parse_age_string(bad)


def test_uids():
    assert is_uid("1.2.840.10008.5.1.4.1.1.1.1")
    assert not is_uid("1.2.03")  # leading zero in a component
    assert not is_uid("1." + "2" * 70)
    # DICOM PS3.5 §9.1: at most 64 characters, exactly.
    assert is_uid("1." + "2" * 62) and not is_uid("1." + "2" * 63)


def test_child_hand_is_within_bonexpert():
    study = Study(modality="DX", body_part="HAND", age_years=Decimal("9.5"), sex="M")
    assert check_intended_use(BONEXPERT, study) == []


@pytest.mark.parametrize("study, attributes", [
    (Study(modality="CT", body_part="HAND", age_years=Decimal(9), sex="M"), ["modality"]),
    (Study(modality="DX", body_part="CHEST", age_years=Decimal(9), sex="M"), ["body_part"]),
    (Study(modality="DX", body_part=None, age_years=Decimal(9), sex="M"), ["body_part"]),
    (Study(modality="DX", body_part="HAND", age_years=Decimal("18.5"), sex="F"), ["age"]),
    (Study(modality="DX", body_part="HAND", age_years=Decimal("18.5"), sex="M"), []),
    (Study(modality="DX", body_part="HAND", age_years=Decimal(9), sex=None), ["sex"]),
    (Study(modality="DX", body_part="HAND", age_years=None, sex="M"), ["age"]),
    (Study(modality=None, body_part=None, age_years=None, sex=None), ["modality", "body_part", "age", "sex"]),
])
def test_bonexpert_mismatches_name_the_attribute(study, attributes):
    assert [m.attribute for m in check_intended_use(BONEXPERT, study)] == attributes


@pytest.mark.parametrize("contrast, attributes", [(True, []), (False, ["contrast"]), (None, ["contrast"])])
def test_cina_needs_contrast(contrast, attributes):
    study = Study(modality="CT", age_years=Decimal(60), contrast=contrast)
    assert [m.attribute for m in check_intended_use(CINA, study)] == attributes


def test_cina_is_for_adults_only():
    mismatches = check_intended_use(CINA, Study(modality="CT", age_years=Decimal(17), contrast=True))
    assert [m.attribute for m in mismatches] == ["age"]
    assert "below the minimum of 18" in mismatches[0].detail


@pytest.mark.parametrize("spec", [
    {}, {"modalities": []}, {"modalities": ["CT"], "contrast": "maybe"},
    {"modalities": ["CT"], "age_years": {"min": 20, "max": 10}}, {"modalities": ["CT"], "colour": "red"},
])
def test_invalid_intended_use_is_refused(spec):
    with pytest.raises(ValueError):
        validate_spec(spec)


@pytest.mark.parametrize("value, is_bsn", [
    ("111222333", True), ("1112.22.333", True), ("111 222 333", True), ("11122233", False),
    ("12345672", True),  # eight digits: 012345672 passes the eleven-test
    ("111222334", False), ("a11222333", False), ("1112223330", False),
])
def test_bsn_detection(value, is_bsn):
    from registry.domain.identifiers import looks_like_bsn

    assert looks_like_bsn(value) is is_bsn
