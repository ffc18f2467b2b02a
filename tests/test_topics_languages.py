"""Matching across languages and scripts: rules limited to languages, Arabic attached
prefixes, inflected names in the shipped watch list, and `newswatch match`'s language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from newswatch.errors import TopicRuleError
from newswatch.match.jsonl import match_jsonl
from newswatch.match.topics import Matcher, compile_topics
from newswatch.parse.text import fold

SHIPPED = compile_topics(
    yaml.safe_load((Path(__file__).resolve().parent.parent / "sources.yaml").read_text("utf-8"))[
        "topics"
    ]
)


def topics(
    matcher: Matcher, title: str, summary: str = "", language: str | None = None
) -> set[str]:
    return {m.topic for m in matcher.match(title, summary, language=language)}


# -- languages: ----------------------------------------------------------------------------


def test_a_rule_limited_to_languages_fires_only_in_them() -> None:
    m = compile_topics(
        [
            {
                "name": "NATO",
                "rules": [
                    {"any": ["=NATO"]},
                    {"any": ["=Nato"], "languages": ["de", "tr"]},
                ],
            }
        ]
    )
    assert topics(m, "Nato-Gipfel in Den Haag", language="de") == {"NATO"}
    assert topics(m, "Nato'nun zirvesi", language="TR") == {"NATO"}  # codes compare folded
    assert topics(m, "Nato-Gipfel in Den Haag", language="de-AT") == {"NATO"}
    assert topics(m, "Nato a Napoli nel 1950", language="it") == set()
    # Unknown language: a limited rule is left out; the unlimited one still fires.
    assert topics(m, "Nato a Napoli nel 1950") == set()
    assert topics(m, "NATO summit", language="it") == {"NATO"}


def test_a_topic_limited_to_languages_is_looked_for_only_in_them() -> None:
    m = compile_topics(
        [{"name": "Hindi", "languages": "tr", "any": ["hindi"]}, {"name": "Any", "any": ["x"]}]
    )
    assert topics(m, "hindi fiyatları", language="tr") == {"Hindi"}
    assert topics(m, "Hindi cinema", language="en") == set()
    assert topics(m, "hindi fiyatları") == set()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # The code meant, where it is plain: a name, an ISO 639-2 code, a country's code.
        ("turkish", "unknown language 'turkish' (did you mean 'tr', Turkish?)"),
        (["tr", "tur"], "(did you mean 'tr', Turkish?)"),
        (["gr"], "unknown language 'gr' (did you mean 'el', Greek?)"),
        (["el-GR"], "write the language alone, 'el', not 'el-GR'"),
        (["zz9"], "two letters"),
        ([], "list of ISO 639-1"),
        ([3], "two letters"),
        ({"tr": 1}, "list of ISO 639-1"),
        # A well-formed code no article is ever stored with: a typo would turn the rule off.
        (["tr", "xx"], "unknown language 'xx'; ISO 639-1 codes newswatch detects: ar, bg,"),
    ],
)
def test_bad_languages_name_the_rule(value: object, message: str) -> None:
    with pytest.raises(TopicRuleError) as err:
        compile_topics([{"name": "T", "rules": [{"any": ["x"], "languages": value}]}])
    assert message in str(err.value)
    assert err.value.path[:3] == ("rules", 0, "languages")


# -- Arabic script ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("تركيا تعلن", "تركيا"),
        ("وتركيا تعلن", "وتركيا"),
        ("بتركيا", "بتركيا"),
        ("لتركيا دور", "لتركيا"),
        ("فبتركيا", "فبتركيا"),
    ],
)
def test_arabic_terms_match_after_attached_prefixes(text: str, hit: str) -> None:
    m = compile_topics([{"name": "T", "any": ["تركيا"]}])
    (found,) = m.match(text, "")
    assert [h.text for h in found.hits] == [hit]


def test_an_arabic_term_written_with_the_article_needs_it() -> None:
    m = compile_topics([{"name": "N", "any": ["الناتو"]}])
    for text in ("الناتو", "والناتو", "بالناتو", "للناتو", "وللناتو", "الـناتو"):
        assert topics(m, text) == {"N"}, text
    for text in ("ناتو", "مناتو", "الناتوية"):
        assert topics(m, text) == set(), text


def test_arabic_terms_do_not_match_inside_other_words() -> None:
    m = compile_topics([{"name": "T", "any": ["تركيا", "التركية"]}])
    assert topics(m, "تركمانستان توقع اتفاقا") == set()
    assert topics(m, "تركي آل الشيخ") == set()
    assert topics(m, "الليرة التركية") == {"T"}


def test_arabic_terms_in_long_lists_are_found() -> None:
    # Six or more terms go through the indexed look-up (_TermGroup).
    words = ["ناتو", "حلف شمال الأطلسي", "alliance", "allies", "allied", "summit*", "تركي*"]
    m = compile_topics([{"name": "N", "all": [["x"], words]}])
    assert topics(m, "x وحلف شمال الأطلسي") == {"N"}
    assert topics(m, "x بالناتو") == {"N"}
    assert topics(m, "x والتركية") == {"N"}
    assert topics(m, "x الأطلسي") == set()


def test_fold_arabic_digits_and_tatweel() -> None:
    assert fold("إس-٤٠٠").text == "اس-400"
    assert fold("۴۰۰").text == "400"
    folded = fold("الـناتو")
    assert folded.text == "الناتو"
    assert folded.original_span(0, len(folded.text)) == (0, len("الـناتو"))


# -- The shipped watch list -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "title", "summary", "expected"),
    [
        (
            "ru",
            "Турция может вернуть российские С-400",
            "Анкара и НАТО обсуждают вопрос.",
            {"Turkey", "S-400", "NATO"},
        ),
        ("tr", "Türkiyenin önceliği ateşkes", "", {"Turkey"}),
        ("tr", "NATO'nun zirvesi Türkiye'de", "", {"Turkey", "NATO"}),
        ("tr", "Yılbaşı öncesi hindi fiyatları arttı", "", set()),
        ("el", "ΕΡΝΤΟΓΑΝ: ΝΕΑ ΑΠΕΙΛΗ", "Ο Τούρκος πρόεδρος μίλησε στην Άγκυρα.", {"Turkey"}),
        ("el", "Η άγκυρα του πλοίου κόπηκε", "", set()),
        ("ar", "بالناتو وبدونه", "", {"NATO"}),
        ("ar", "الهند تتسلم منظومات إس ٤٠٠", "", {"S-400"}),
        ("pl", "Prezydent spotkał się z Erdoganem w Ankarze", "", {"Turkey"}),
        ("pl", "Natomiast rząd zapowiada obniżkę podatków", "", set()),
        ("de", "Nato-Gipfel in Den Haag", "", {"NATO"}),
        ("de", "Mercedes S 400 d 4Matic im Test", "Die S-Klasse überzeugt.", set()),
        ("it", "Nato a Napoli nel 1950, il regista è morto", "", set()),
        ("it", "Altri soldati della Nato in Lettonia", "", {"NATO"}),
        ("ru", "Премия «Триумф» вручена актрисам", "", set()),
        ("ru", "Зенитные комплексы «Триумф» на параде", "", {"S-400"}),
        ("fr", "Il sert de tête de Turc à l'équipe", "", set()),
        ("en", "Rutte urges allies to spend more", "", {"NATO"}),
        ("en", "Star Alliance adds a member", "", set()),
        ("en", "Triumph motorcycles unveils its Speed 400", "", set()),
        # The adjective in Ukrainian and Bulgarian; a flower, a painting's sultan, a dish
        # "Turkish-style" and Bulgaria's ethnic Turks are not the country.
        ("uk", "Судна йдуть на ремонт у турецькі верфі", "", {"Turkey"}),
        ("bg", "Турските митнически власти въведоха нова система", "", {"Turkey"}),
        ("bg", "Булгаргаз и БОТАШ предоговарят договора", "", {"Turkey"}),
        ("uk", "Турецька гвоздика: як виростити дворічник", "", set()),
        ("uk", "Відповідь запорожців турецькому султану", "", set()),
        ("ru", "Индейка по-турецки с нутом", "", set()),
        ("bg", "Гласовете на етническите турци в Родопите", "", set()),
        # Descent is not the country; nor Northern Cyprus's home news; the Cyprus talks are.
        ("en", "Senator of Turkish heritage sworn in", "", set()),
        ("es", "El extremo, de origen turco, llega al Betis", "", set()),
        ("de", "Die türkischstämmigen Betreiber erhöhen die Preise", "", set()),
        (
            "en",
            "Kyrenia council raises marina fees",
            "The Turkish Cypriot town in northern Cyprus.",
            set(),
        ),
        ("tr", "Lefkoşa Türk Belediyesi'ni CTP adayı kazandı", "", set()),
        (
            "en",
            "Cyprus reunification talks stall",
            "Greek Cypriot and Turkish Cypriot leaders remain far apart.",
            {"Turkey"},
        ),
        ("en", "Mozart's 'Turkish' Violin Concerto at Symphony Hall", "", set()),
        # The alliance in Romanian; its name on rifle rounds or a spelling alphabet is not it.
        ("ro", "Alianța Nord-Atlantică deschide un centru la București", "", {"NATO"}),
        ("pl", "Milion naboi 5,56 x 45 mm NATO miesięcznie", "", set()),
        ("bg", "Арсенал произвежда патрони 5,56 мм NATO", "", set()),
        ("fr", "Radioamateurs", "Épeler avec l'alphabet phonétique, celui de l'OTAN.", set()),
        ("nl", "Zo spel je je postcode", "Gebruik het NATO-alfabet (Alfa, Bravo, Charlie).", set()),
        (
            "it",
            "Il Lecce presenta Davide Russo",
            "Nato a Bari nel 2009, Russo arriva in prestito.",
            set(),
        ),
        # A Turkish word that starts like a province ("hatayla", by the error); a Turkish
        # footballer named Nato; the sella turcica; migrants' döner.
        ("tr", "Mercedes araçları geri çağırıyor", "Yazılımdaki hatayla ilgili açıklama.", set()),
        ("tr", "Hatay'da 4,1 büyüklüğünde deprem", "", {"Turkey"}),
        ("tr", "Nato'dan iki gollü galibiyet", "Brezilyalı forvet takımını taşıdı.", set()),
        ("en", "Nato's late double sends Braga through", "The striker came off the bench.", set()),
        ("ru", "Удалили опухоль турецкого седла", "", set()),
        ("tr", "Duisburg'da Türk kökenli belediye başkanı", "", set()),
        ("de", "Döner für neun Euro", "Von türkischen Einwanderern populär gemacht.", set()),
        # A minehunter of the Sandown class is no racecourse; a Turkish Van cat, the
        # kettlebell get-up, a sponsor's league, a 1953 song, a restaurant and a coffee
        # "still called Turkish" are not the country; Northern Cyprus's election board is not
        # Turkey's.
        ("ro", "Un vânător de mine de clasă Sandown", "Grupul, înființat cu Turcia.", {"Turkey"}),
        ("en", "Best in show", "Turkish Vans are often described as cats that like water.", set()),
        ("en", "Why trainers swear by the Turkish get-up", "", set()),
        ("en", "Real Madrid edge Olympiacos in Turkish Airlines EuroLeague thriller", "", set()),
        ("en", "'Istanbul (Not Constantinople)' tops viral charts", "", set()),
        ("en", "Manchester's Istanbul Kitchen wins restaurant of the year", "", set()),
        (
            "el",
            "Ο ελληνικός καφές επιστρέφει",
            "Τον ελληνικό καφέ πολλοί εξακολουθούν να αποκαλούν «τούρκικο».",
            set(),
        ),
        (
            "tr",
            "KKTC'de yerel seçim sonuçları",
            "KKTC Yüksek Seçim Kurulu sonuçları açıkladı.",
            set(),
        ),
        ("tr", "Yüksek Seçim Kurulu kesin sonuçları açıkladı", "", {"Turkey"}),
        # A weapon's NATO reporting name, a trade group and a chess player named NATO or Nato.
        (
            "en",
            "Why the S-400 is hard to defeat",
            "Known by its NATO reporting name SA-21.",
            {"S-400"},
        ),
        (
            "en",
            "Tobacco group fights flavour ban",
            "The National Association of Tobacco Outlets (NATO) said.",
            set(),
        ),
        (
            "en",
            "Nato Kiknadze wins rapid chess title",
            "The Georgian beat a Serbian grandmaster.",
            set(),
        ),
        # Review cases: all-capital Turkish headlines; Northern Cyprus's board by the north's
        # full name; Turkish vans are not the cats; trade in goods of Turkish origin is
        # Turkey; the Greek adjective "κυπριακό" and a bank's guarantor rules are not the
        # Cyprus talks; a trade group's members, geopolitical chess, 155 mm stocks.
        ("tr", "HATAY'DA 4,8 BÜYÜKLÜĞÜNDE DEPREM", "", {"Turkey"}),
        ("tr", "Kuzey Kıbrıs Türk Cumhuriyeti Yüksek Seçim Kurulu sonuçları açıkladı", "", set()),
        ("en", "Bulgaria seizes Turkish vans loaded with migrants", "", {"Turkey"}),
        ("en", "EU imposes duties on steel of Turkish origin", "", {"Turkey"}),
        ("el", "Το κυπριακό χαλούμι κατακτά τη Γερμανία", "", set()),
        ("en", "Bank of Cyprus: new rules", "Guarantor rules for mortgages change.", set()),
        (
            "en",
            "Tobacco group fights ban",
            "The National Association of Tobacco Outlets (NATO) said its members would lose.",
            set(),
        ),
        ("en", "Nato allies pledge more troops as Putin plays geopolitical chess", "", {"NATO"}),
        ("en", "NATO: 155 mm stocks run low", "", {"NATO"}),
        # The S-400 with Polish weapon words.
        ("pl", "Chiny przerzucają dywizjony S-400", "", {"S-400"}),
    ],
)
def test_shipped_watch_list_across_languages(
    lang: str, title: str, summary: str, expected: set[str]
) -> None:
    assert topics(SHIPPED, title, summary, lang) == expected


def test_hits_are_slices_of_the_original_text_in_every_script() -> None:
    title = "Лавров прибыл в Анкару; الـناتو; Τουρκίας; Türkiye’nin; إس-٤٠٠"
    for found in SHIPPED.match(title, "", language="ru"):
        for hit in found.hits:
            assert title[hit.start : hit.end] == hit.text


# -- newswatch match ------------------------------------------------------------------------


def test_match_jsonl_says_which_language_it_saw() -> None:
    seen: list[tuple[str, str]] = []

    def detect(title: str, summary: str) -> str | None:
        seen.append((title, summary))
        return "de" if "Nato" in title else None

    m = compile_topics([{"name": "NATO", "any": ["=Nato"], "languages": ["de"]}])
    lines = [
        json.dumps({"id": 1, "title": "Nato-Gipfel", "summary": "<p>Die Allianz</p>"}),
        json.dumps({"id": 2, "title": "Nato a Napoli", "language": "it"}),
        json.dumps({"id": 3, "title": "?"}),
        json.dumps({"id": 4, "title": "x", "language": 5}),
    ]
    out = [json.loads(line) for line in match_jsonl(lines, m, detect)]
    assert out[0]["language"] == "de" and out[0]["topics"] == ["NATO"]
    assert out[1]["language"] == "it" and out[1]["topics"] == []  # given, not detected
    assert out[2]["language"] is None and out[2]["topics"] == []
    assert "language" in out[3]["error"]
    assert seen == [("Nato-Gipfel", "Die Allianz"), ("?", "")]
