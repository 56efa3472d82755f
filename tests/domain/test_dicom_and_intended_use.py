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


def test_mismatch_sentences_name_the_attribute_and_what_the_tool_needs():
    """The reason's sentence is what a radiologist reads (kills message mutants: docs/testing.md)."""
    spec = {"modalities": ["CR", "DX"], "body_parts": ["HAND"]}
    assert [m.detail for m in check_intended_use(spec, Study(modality="CT"))] == [
        "Modality CT is not one of CR, DX",
        "the study has no BodyPartExamined; the tool needs one of HAND"]
    # Whole numbers as people write them: 20, not 2E+1 (Decimal.normalize's form).
    aged = {"modalities": ["DX"], "age_years": {"min": 0, "max": 20}}
    assert [m.detail for m in check_intended_use(aged, Study(modality="DX", age_years=Decimal(30)))] == [
        "patient age 30 y is above the maximum of 20 y"]


@pytest.mark.parametrize("value, expected", [(None, None), ("", None), (" 99000101 ", "99000101")])
def test_an_empty_identifier_is_none_not_an_error(value, expected):
    from registry.domain.identifiers import validate_eight_digits

    assert validate_eight_digits(value, "URA") == expected
    with pytest.raises(ValueError):
        validate_eight_digits("9900010", "URA")


# Rules the mutation run of 2026-11-30 found untested (docs/testing.md, "Mutation testing").

@pytest.mark.parametrize("spec, study", [
    (BONEXPERT, Study(modality="dx", body_part="hand", age_years=Decimal(9), sex="M")),
    ({"modalities": ["dx"], "body_parts": ["hand"]}, Study(modality="DX", body_part="HAND")),
])
def test_modality_and_body_part_match_whatever_their_case(spec, study):
    assert check_intended_use(spec, study) == []


@pytest.mark.parametrize("spec, sex, age, attributes", [
    (BONEXPERT, "M", "19", []), (BONEXPERT, "M", "19.01", ["age"]), (BONEXPERT, "M", "0", []),
    (BONEXPERT, "F", "18", []), (BONEXPERT, "F", "18.01", ["age"]),
    (CINA, None, "18", []), (CINA, None, "17.99", ["age"]),
    ({"modalities": ["CT"], "age_years": {"max": 0}}, None, "0", []),
    ({"modalities": ["CT"], "age_years": {"min": 0, "max": 5}}, None, "-1", ["age"]),
])
def test_age_bounds_are_inclusive(spec, sex, age, attributes):
    study = Study(modality=spec["modalities"][0], body_part="HAND", age_years=Decimal(age), sex=sex,
                  contrast=True)
    assert [m.attribute for m in check_intended_use(spec, study)] == attributes


def test_a_sex_without_an_age_range_is_outside_intended_use():
    """BoneXpert has ranges for M and F only: a study of sex O is outside, once, for its age."""
    study = Study(modality="DX", body_part="HAND", age_years=Decimal(9), sex="O")
    assert [(m.attribute, m.detail) for m in check_intended_use(BONEXPERT, study)] == [
        ("age", "the tool has no age range for patient sex O")]


@pytest.mark.parametrize("sex, attributes", [(None, ["sex"]), ("", ["sex"]), ("F", [])])
def test_a_required_attribute_must_be_present(sex, attributes):
    spec = {"modalities": ["DX"], "requires": ["sex"]}
    assert [m.attribute for m in check_intended_use(spec, Study(modality="DX", sex=sex))] == attributes


@pytest.mark.parametrize("contrast, attributes", [(True, ["contrast"]), (False, []), (None, [])])
def test_a_tool_for_plain_studies_refuses_contrast(contrast, attributes):
    spec = {"modalities": ["CT"], "contrast": "forbidden"}
    assert [m.attribute for m in check_intended_use(spec, Study(modality="CT", contrast=contrast))] == attributes


@pytest.mark.parametrize("sent, attributes", [
    (("1.2.9",), ["sop_class"]), (("1.2.9", "1.2.3"), []), ((), []),
])
def test_one_sop_class_must_match_when_the_gateway_sends_them(sent, attributes):
    spec = {"modalities": ["CT"], "sop_class_uids": ["1.2.3", "1.2.4"]}
    study = Study(modality="CT", sop_class_uids=sent)
    assert [m.attribute for m in check_intended_use(spec, study)] == attributes


def test_every_mismatch_in_order_with_its_sentence():
    spec = {"modalities": ["CT"], "body_parts": ["CHEST"], "age_years": {"min": 18}, "contrast": "required",
            "sop_class_uids": ["1.2.3"], "requires": ["sex"]}
    study = Study(modality="MR", body_part="HEAD", age_years=Decimal("4.5"), contrast=False,
                  sop_class_uids=("1.2.9",))
    assert [(m.attribute, m.detail) for m in check_intended_use(spec, study)] == [
        ("modality", "Modality MR is not one of CT"),
        ("body_part", "BodyPartExamined HEAD is not one of CHEST"),
        ("age", "patient age 4.5 y is below the minimum of 18 y"),
        ("sex", "the study has no PatientSex; the tool needs it"),
        ("contrast", "the tool needs a contrast-enhanced study"),
        ("sop_class", "none of the study's SOP classes is supported by the tool"),
    ]
    assert [m.detail for m in check_intended_use(spec, Study(modality="CT", body_part="CHEST", sex="F"))] == [
        "the study has no patient age; the tool has an age range",
        "the study does not say whether contrast was given; the tool needs a contrast-enhanced study"]
    assert [m.detail for m in check_intended_use({"modalities": ["CT"], "contrast": "forbidden"},
                                                 Study(modality="CT", contrast=True))] == [
        "the tool is not for contrast-enhanced studies"]
    assert [m.detail for m in check_intended_use({"modalities": ["CR", "DX"]}, Study())] == [
        "the study has no Modality; the tool needs one of CR, DX"]


@pytest.mark.parametrize("spec", [
    "CT", ["CT"], {"modalities": ["CT"], "requires": ["colour"]},
    {"modalities": ["CT"], "age_years_by_sex": {"M": {"min": 0, "max": 19}, "F": {"min": 18, "max": 0}}},
])
def test_more_invalid_intended_uses_are_refused(spec):
    with pytest.raises(ValueError):
        validate_spec(spec)


def test_a_full_intended_use_is_accepted_as_is():
    spec = {"modalities": ["CR"], "body_parts": ["HAND"], "age_years": {"min": 5, "max": 5},
            "age_years_by_sex": {"M": {"min": 0}, "F": {"max": 18}}, "contrast": "forbidden",
            "sop_class_uids": ["1.2.3"], "requires": list(("modality", "body_part", "age", "sex",
                                                            "contrast", "sop_class")), "notes": "n"}
    assert validate_spec(spec) is spec
    for contrast in ("required", None):
        assert validate_spec({"modalities": ["CT"], "contrast": contrast, "age_years": None})["modalities"] == ["CT"]
