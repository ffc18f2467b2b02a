"""Language detection (newswatch.match.language): ISO 639-1 codes from lingua, per text and per feed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from newswatch.match.language import (
    article_text,
    detect_article_language,
    detect_feed_languages,
    detect_language,
)

# Headlines and summaries written the way each language's press writes them.
SAMPLES = {
    "en": ("Turkey weighs return of Russian S-400 missiles", "Ankara and Washington resumed talks over the air-defence systems on Tuesday."),
    "tr": ("Türkiye'nin S-400 kararı NATO'da tartışılıyor", "Ankara'daki görüşmelerde hava savunma sistemlerinin geleceği ele alındı."),
    "ru": ("Турция может вернуть российские С-400", "Анкара и НАТО обсуждают вопрос о зенитных ракетных комплексах."),
    "el": ("Η Τουρκία συζητά με το ΝΑΤΟ για τους S-400", "Η Άγκυρα εξετάζει το μέλλον των ρωσικών πυραυλικών συστημάτων."),
    "ar": ("تركيا تدرس إعادة منظومة إس-400 الروسية", "قالت مصادر في أنقرة إن المحادثات مع حلف الناتو مستمرة."),
    "fr": ("La Turquie pourrait renoncer aux S-400 russes", "Ankara et Washington ont repris les discussions sur les systèmes de défense aérienne."),
    "de": ("Die Türkei könnte die russischen S-400 zurückgeben", "Ankara und Washington verhandeln wieder über die Luftabwehrsysteme."),
    "es": ("Turquía podría devolver los S-400 rusos", "Ankara y Washington reanudaron las conversaciones sobre los sistemas antiaéreos."),
    "it": ("La Turchia potrebbe restituire gli S-400 russi", "Ankara e Washington hanno ripreso i colloqui sui sistemi di difesa aerea."),
    "pl": ("Turcja może zwrócić rosyjskie S-400", "Ankara i Waszyngton wznowiły rozmowy o systemach obrony powietrznej."),
}  # fmt: skip


@pytest.mark.parametrize("lang", sorted(SAMPLES))
def test_each_language_of_the_watch_list_is_recognised(lang: str) -> None:
    title, summary = SAMPLES[lang]
    assert detect_article_language(title, summary) == lang
    assert detect_language(title) == lang


@pytest.mark.parametrize("text", ["", "   ", "12345 678", "!!", "S-400", "—"])
def test_text_without_enough_letters_has_no_language(text: str) -> None:
    assert detect_language(text) is None


def test_a_monolingual_feed_gets_its_language_for_every_article() -> None:
    texts = [article_text(*SAMPLES["tr"])] * 3 + [
        article_text(
            "Merkez Bankası faiz kararını açıkladı", "Politika faizi yüzde 45'te sabit tutuldu."
        ),
        article_text("İstanbul'da trafik yoğunluğu arttı", ""),
        article_text(
            "Dışişleri Bakanı Brüksel'de temaslarda bulundu", "Bakan NATO toplantısına katıldı."
        ),
    ]
    assert detect_feed_languages(texts) == ["tr"] * len(texts)


def test_a_feed_mixing_scripts_is_judged_per_script() -> None:
    en = [
        article_text(*SAMPLES["en"]),
        article_text("NATO allies meet in Brussels", "Defence ministers discussed spending."),
    ]
    ru = [
        article_text(*SAMPLES["ru"]),
        article_text("В Москве прошли переговоры", "Стороны обсудили поставки оружия."),
    ]
    ar = [article_text(*SAMPLES["ar"])]
    texts = [en[0], ru[0], ar[0], en[1], ru[1], "12"]
    assert detect_feed_languages(texts) == ["en", "ru", "ar", "en", "ru", None]


def test_a_feed_whose_halves_disagree_is_judged_article_by_article() -> None:
    # Four German then four French articles: the halves disagree, so each is judged alone.
    de = [
        "Die Bundesregierung berät über neue Waffenlieferungen an die Ukraine",
        "Der Bundestag stimmt am Donnerstag über den Haushalt ab",
        "In Berlin demonstrierten tausende Menschen gegen die Reform",
        "Die Inflation in Deutschland ist im Mai leicht gesunken",
    ]
    fr = [
        "Le gouvernement français présente son budget pour l'année prochaine",
        "Les agriculteurs manifestent de nouveau devant le ministère",
        "La grève des contrôleurs perturbe le trafic aérien à Paris",
        "Le président de la République s'exprimera ce soir à la télévision",
    ]
    assert detect_feed_languages(de + fr) == ["de"] * 4 + ["fr"] * 4


def test_importing_the_module_or_the_cli_does_not_load_lingua() -> None:
    """Commands that never detect a language never pay for lingua's import or models."""
    code = "import sys, newswatch.match.language, newswatch.cli; print('lingua' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_short_english_text_is_not_taken_for_another_language() -> None:
    """lingua's trigram models read this as Romanian (0.98); an English function word in a
    short ASCII text says English, and other languages' short texts keep theirs."""
    from newswatch.match.language import detect_language

    assert detect_language("Greek yogurt sales soar\nA recipe for Greek yogurt.") == "en"
    # Real headlines lingua took for German, Dutch, Turkish and Italian (a walk-through).
    for title in [
        "How Epstein got so rich",
        "Tesla profit slumps amid lower EV sales, AI spending surge",
        "Why India has so many snakebites",
        "J.D. Vance flies into a giant trade storm in India",
    ]:
        assert detect_language(title) == "en", title
    assert detect_language("Wel of niet naar de NAVO-top") == "nl"  # "of" is Dutch too
    assert detect_language("Hij heeft een gebroken been") == "nl"  # "been", a leg
    assert detect_language("Was Trump jetzt plant") == "de"
    assert detect_language("La OTAN y el gasto en defensa") == "es"
    assert detect_language("Erdoğan ve Putin Soçi'de görüştü") == "tr"
