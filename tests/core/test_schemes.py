import pytest

from accord.core.schemes import JPN, KOR, USA, normalise_marking, resolve_level, scheme_for


@pytest.mark.parametrize(("party", "text", "key"), [
    ("KOR", "군사Ⅱ급비밀", "II"),
    ("KOR", "군사II급비밀", "II"),          # ASCII "II" instead of the Roman numeral Ⅱ (NFKC)
    ("KOR", "grade ii", "II"),
    ("KOR", "KOR-III", "III"),
    ("KOR", "대외비", "DAEOEBI"),
    ("JPN", "極秘", "GOKUHI"),
    ("JPN", "特定秘密", "GOKUHI"),           # Specially Designated Secret sits at the SECRET level
    ("JPN", "tokutei himitsu", "GOKUHI"),
    ("JPN", "機密", "KIMITSU"),
    ("JPN", "秘", "HI"),
    ("USA", "Top Secret", "TOP_SECRET"),
    ("USA", "TS", "TOP_SECRET"),
    ("USA", "confidential", "CONFIDENTIAL"),
])
def test_markings_and_aliases_resolve(party: str, text: str, key: str) -> None:
    level = resolve_level(party, text)
    assert level is not None
    assert level.key == key


@pytest.mark.parametrize(("party", "text"), [
    ("KOR", "SECRET"), ("JPN", "TOP SECRET"), ("USA", "極秘"), ("USA", ""), ("FRA", "SECRET"),
])
def test_unknown_level_or_party_resolves_to_none(party: str, text: str) -> None:
    assert resolve_level(party, text) is None


def test_levels_are_ordered_highest_first() -> None:
    for scheme in (KOR, JPN, USA):
        ranks = [lv.rank for lv in scheme.levels]
        assert ranks == sorted(ranks, reverse=True)
        assert len(set(ranks)) == len(ranks)


def test_unknown_party_has_no_scheme() -> None:
    assert scheme_for("FRA") is None
    assert scheme_for("kor") is None


def test_normalise_marking_folds_width_case_and_spacing() -> None:
    assert normalise_marking("  Top-Secret ") == "top secret"
    assert normalise_marking("군사Ⅰ급비밀") == normalise_marking("군사I급비밀")
