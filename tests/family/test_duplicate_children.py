"""Duplicate children, for real: a second application for the same child is refused as DUPLICATE
through the API however the name or the СНИЛС is disguised (look-alike letters of other scripts,
invisible characters, compatibility forms, decomposed letters, dashes and spaces, digits of other
scripts), and an honest different child is still accepted."""

from __future__ import annotations

from datetime import date

import pytest

from pdo_graph.domain.identifiers import snils_with_checksum
from pdo_graph.domain.matching import name_key
from tests.helpers import apply

BIRTH = date(2015, 4, 17)
NAME = "Скворцова-Петрова Алёна Дмитриевна"
SNILS = snils_with_checksum("112233445")  # 11223344595
FOREIGN = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

NAME_VARIANTS = {
    "latin look-alikes (C, e, o, p, a)": "Cкворцова-Пeтрова Aлёна Дмитриевнa",
    "latin capitals where the small letters differ (B, H, M, T, K)": "СКВОРЦОВА-ПЕТРОВА АЛЁНА ДМИТРИЕВНА".translate(
        str.maketrans("СКВОРЕТАМН", "CKBOPETAMH")
    ),
    "greek look-alikes (omicron, Alpha)": "Скв\u03bfрцова-Петрова \u0391лёна Дмитриевна",
    "digit zero for О": "Скв0рцова-Петрова Алёна Дмитриевна",
    "zero-width space": "Скворцо\u200bва-Петрова Алёна Дмитри\u200bевна",
    "soft hyphen": "Сквор\u00adцова-Петрова Алё\u00adна Дмитриевна",
    "BOM, word joiner, ZWJ, ZWNJ": "\ufeffСкворцова-Петрова\u2060 Алё\u200dна Дмит\u200cриевна",
    "bidi marks": "\u200eСкворцова-Петрова \u202aАлёна\u202c Дмитриевна\u200f",
    "variation selector and combining grapheme joiner": "Скворцова\ufe0f-Петрова Алё\u034fна Дмитриевна",
    "NFD (ё decomposed)": "Скворцова-Петрова Але\u0308на Дмитриевна",
    "е for ё": "Скворцова-Петрова Алена Дмитриевна",
    "combining stress accent": "Скворцо\u0301ва-Петрова Алё\u0301на Дмитриевна",
    "case": "скворцова-петрова алёна дмитриевна",
    "non-breaking, narrow and ideographic spaces": "Скворцова-Петрова\u00a0Алёна\u202f\u3000Дмитриевна",
    "Hangul filler as a space": "Скворцова-Петрова\u3164Алёна Дмитриевна",
    "en dash": "Скворцова–Петрова Алёна Дмитриевна",
    "em dash with spaces": "Скворцова — Петрова Алёна Дмитриевна",
    "unicode hyphen": "Скворцова\u2010Петрова Алёна Дмитриевна",
    "non-breaking hyphen": "Скворцова\u2011Петрова Алёна Дмитриевна",
    "minus sign": "Скворцова\u2212Петрова Алёна Дмитриевна",
    "fullwidth hyphen and letters": "Ｃкворцова\uff0dПетрова Алёна Дмитриевна",
    "mathematical bold capital A": "Скворцова-Петрова \U0001d400лёна Дмитриевна",
    "everything at once": "\u200bCKB0PЦ\u03bfBA\u00ad — ПETPOBA\u00a0Aлe\u0308\u200bна ДMИTPИEBHA",
}

SNILS_VARIANTS = {
    "fullwidth digits": "１１２－２３３－４４５ ９５",
    "arabic-indic digits": SNILS.translate(FOREIGN),
    "extended arabic-indic (persian) digits": "۱۱۲۲۳۳۴۴۵۹۵",
    "devanagari digits": "११२२३३४४५९५",
    "superscript digits": "¹¹²-²³³-⁴⁴⁵ ⁹⁵",
    "subscript digits": "₁₁₂₂₃₃₄₄₅₉₅",
    "mathematical bold digits": "𝟏𝟏𝟐𝟐𝟑𝟑𝟒𝟒𝟓𝟗𝟓",
    "circled digits": "①①②②③③④④⑤⑨⑤",
    "mixed scripts": "1١۲२³₃４𝟒5٩۵",
    "no separators": SNILS,
    "dashes and spaces of other kinds": "112\u2013233\u2014445\u00a095",
    "zero-width characters inside": "112\u200b233\u00ad445\ufeff95",
}


UKRAINIAN = "Грищенко В\u0456тал\u0456й \u0406ванович"  # Cyrillic і and І
I_VARIANTS = {
    "latin i and I": "Грищенко Вiталiй Iванович",
    "turkish dotless ı": "Грищенко Вıталıй Iванович",
    "turkish dotted capital İ": "Грищенко Віталій İванович",
    "digit one for І": "Грищенко Віталій 1ванович",
}


async def test_the_key_keeps_every_russian_letter_apart() -> None:
    letters = "абвгдежзийклмнопрстуфхцчшщъыьэюя"
    keys = [name_key(c) for c in letters]
    assert keys == list(letters)
    assert [name_key(c.upper()) for c in letters] == keys
    assert name_key("ё") == name_key("Ё") == "е"


@pytest.mark.parametrize("variant", sorted(NAME_VARIANTS))
async def test_a_disguised_name_is_the_same_child(gql, token, variant):
    first = await apply(gql, token("GUARDIAN", "alice"), NAME, BIRTH, snils=SNILS)
    assert first["userErrors"] == []
    again = await apply(gql, token("GUARDIAN", "mallory"), NAME_VARIANTS[variant], BIRTH)
    assert again["application"] is None, variant
    assert [e["code"] for e in again["userErrors"]] == ["DUPLICATE"], (variant, again)


@pytest.mark.parametrize("variant", sorted(I_VARIANTS))
async def test_dotted_and_dotless_i_are_the_same_letter(gql, token, variant):
    assert (await apply(gql, token("GUARDIAN", "alice"), UKRAINIAN, BIRTH))["userErrors"] == []
    again = await apply(gql, token("GUARDIAN", "mallory"), I_VARIANTS[variant], BIRTH)
    assert [e["code"] for e in again["userErrors"]] == ["DUPLICATE"], (variant, again)


@pytest.mark.parametrize("variant", sorted(SNILS_VARIANTS))
async def test_a_snils_in_other_digits_is_the_same_child(gql, token, variant):
    first = await apply(gql, token("GUARDIAN", "alice"), NAME, BIRTH, snils="112-233-445 95")
    assert first["userErrors"] == []
    again = await apply(
        gql, token("GUARDIAN", "mallory"), "Журавлёв Кирилл Олегович", BIRTH, snils=SNILS_VARIANTS[variant]
    )
    assert again["application"] is None, variant
    assert [e["code"] for e in again["userErrors"]] == ["DUPLICATE"], (variant, again)


async def test_a_snils_that_is_not_digits_is_refused_not_a_second_child(gql, token):
    await apply(gql, token("GUARDIAN", "alice"), NAME, BIRTH, snils=SNILS)
    for bad in ("112-233-445 9б", "¹¹²²³³⁴⁴⁵⁹⁶", "11223344595½", "Ⅰ1223344595"):
        refused = await apply(gql, token("GUARDIAN", "mallory"), "Журавлёв Кирилл Олегович", BIRTH, snils=bad)
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("INVALID", ["input", "snils"])], bad


async def test_honest_different_children_are_accepted(gql, token):
    alice = token("GUARDIAN", "alice")
    assert (await apply(gql, alice, NAME, BIRTH, snils=SNILS))["userErrors"] == []
    accepted = {
        "a twin": ("Скворцова-Петрова Марина Дмитриевна", BIRTH, None),
        "same name, other birth date": (NAME, date(2016, 4, 17), None),
        "й is not и": ("Скворцов-Петров Андрей Дмитриевич", BIRTH, None),
        "и is not й": ("Скворцов-Петров Андреи Дмитриевич", BIRTH, None),
        "э is not е": ("Скворцова-Петрова Элина Дмитриевна", BIRTH, None),
        "е is not э": ("Скворцова-Петрова Елина Дмитриевна", BIRTH, None),
        "ь is not в": ("Ильина Дарья Петровна", BIRTH, None),
        "в is not ь": ("Илвина Дарвя Петровна", BIRTH, None),
        "another СНИЛС": ("Журавлёв Кирилл Олегович", BIRTH, snils_with_checksum("112233446")),
        "a single surname": ("Скворцова Алёна Дмитриевна", BIRTH, None),
    }
    for case, (name, birth, snils) in accepted.items():
        result = await apply(gql, alice, name, birth, snils=snils)
        assert result["userErrors"] == [], (case, result)
    body = await gql("{ viewer { children { fullName } } }", token=alice)
    assert len(body["data"]["viewer"]["children"]) == 1 + len(accepted)


async def test_the_stored_name_is_clean_and_shown_as_typed(gql, token):
    """Invisible characters and odd spaces are not kept; the letters are (the operator sees what was sent)."""
    alice = token("GUARDIAN", "alice")
    result = await apply(gql, alice, "  Ивaнов\u200b\u00a0Иван\u00ad  Иванович ", BIRTH)
    assert result["application"]["child"]["fullName"] == "Ивaнов Иван Иванович"
