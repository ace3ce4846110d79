import pytest

from accord.core.schemes import EMPTY, Level, Scheme, SchemeRegistry, normalise_marking, resolve_level, scheme_for
from accord.formats.spif import bundled_registry


@pytest.mark.parametrize(
    ("party", "text", "key"),
    [
        ("KOR", "군사Ⅱ급비밀", "II"),
        ("KOR", "군사II급비밀", "II"),  # ASCII "II" instead of the Roman numeral Ⅱ (NFKC)
        ("KOR", "grade ii", "II"),
        ("KOR", "KOR-III", "III"),
        ("KOR", "대외비", "DAEOEBI"),
        ("JPN", "極秘", "GOKUHI"),
        ("JPN", "特定秘密", "GOKUHI"),  # Specially Designated Secret sits at the SECRET level
        ("JPN", "tokutei himitsu", "GOKUHI"),
        ("JPN", "機密", "KIMITSU"),
        ("JPN", "秘", "HI"),
        ("USA", "Top Secret", "TOP_SECRET"),
        ("USA", "TS", "TOP_SECRET"),
        ("USA", "confidential", "CONFIDENTIAL"),
    ],
)
def test_markings_and_aliases_resolve(party: str, text: str, key: str) -> None:
    level = resolve_level(party, text)
    assert level is not None
    assert level.key == key
    assert bundled_registry().level(party, text) is level


@pytest.mark.parametrize(
    ("party", "text"),
    [
        ("KOR", "SECRET"),
        ("JPN", "TOP SECRET"),
        ("USA", "極秘"),
        ("USA", ""),
        ("FRA", "SECRET"),
    ],
)
def test_unknown_level_or_party_resolves_to_none(party: str, text: str) -> None:
    assert resolve_level(party, text) is None


def test_levels_are_ordered_highest_first() -> None:
    for scheme in bundled_registry():
        ranks = [lv.rank for lv in scheme.levels]
        assert ranks == sorted(ranks, reverse=True)
        assert len(set(ranks)) == len(ranks)


def test_unknown_party_has_no_scheme() -> None:
    assert scheme_for("FRA") is None
    assert scheme_for("kor") is None
    assert "KOR" not in EMPTY and EMPTY.level("KOR", "II") is None


def test_normalise_marking_folds_width_case_and_spacing() -> None:
    assert normalise_marking("  Top-Secret ") == "top secret"
    assert normalise_marking("군사Ⅰ급비밀") == normalise_marking("군사I급비밀")


def _scheme(party: str, *rows: tuple[str, str, tuple[str, ...]]) -> Scheme:
    n = len(rows)
    return Scheme(
        party=party,
        name=party,
        levels=tuple(
            Level(party=party, key=k, marking=m, rank=n - i, english=m, aliases=al, lacv=n - i)
            for i, (k, m, al) in enumerate(rows)
        ),
    )


def test_a_spelling_naming_two_levels_is_refused() -> None:
    with pytest.raises(ValueError, match="names two levels"):
        _scheme("FRA", ("S", "SECRET", ("X",)), ("C", "CONFIDENTIAL", ("x",)))


def test_a_key_naming_two_levels_is_refused() -> None:
    with pytest.raises(ValueError, match="names two levels"):
        _scheme("FRA", ("S", "SECRET", ()), ("S", "CONFIDENTIAL", ()))


def test_a_registry_refuses_a_nation_twice() -> None:
    with pytest.raises(ValueError, match="two schemes for FRA"):
        SchemeRegistry([_scheme("FRA", ("S", "SECRET", ())), _scheme("FRA", ("C", "CONF", ()))])
    reg = SchemeRegistry([_scheme("FRA", ("S", "SECRET", ()))])
    assert reg.parties == ("FRA",) and reg.level("FRA", "secret") is not None
    with pytest.raises(ValueError, match="two schemes"):
        reg.merged(reg)


def test_by_key_is_exact_and_by_lacv_finds_the_level() -> None:
    kor = bundled_registry()["KOR"]
    assert kor.by_key("II") is not None and kor.by_key("군사Ⅱ급비밀") is None
    lv = kor.by_key("II")
    assert lv is not None and kor.by_lacv(lv.lacv) is lv
    assert kor.rel_marking(["USA", "JPN"]) == "REL TO JPN, USA"
