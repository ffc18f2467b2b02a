"""Feeds in Turkish (windows-1254), Russian (windows-1251), Greek (ISO-8859-7) and Arabic
(UTF-8), served over real HTTP on 127.0.0.1, through the real `newswatch poll` and `newswatch
digest`: every article is stored with its text intact and its language detected, topics
written in those languages match, and headless Chromium lays the digest out with the Arabic
titles right to left. The screenshot is checked (where the ink of each title lies), not only
saved.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import struct
import subprocess
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import duckdb
import pytest
from bench.make_screenshot import CHROMIUM, chromium_command, screenshot

from newswatch import cli
from tests.feedserver import FeedServer
from tests.helpers import write_sources
from tests.warehouse_helpers import poll_once

# (path, outlet, encoding, Content-Type header, items: (title, summary, topics))
FEEDS = [
    ("/tr.xml", "Hürriyet", "windows-1254", "application/rss+xml; charset=windows-1254", [
        ("Türkiye, S-400 konusunda Washington ile yeni bir görüşme yapacak",
         "Dışişleri Bakanlığı, 2,5 milyar dolara alınan 36 fırlatıcıyla ilgili müzakerelerin önümüzdeki hafta Ankara'da süreceğini açıkladı.",
         {"Turkey", "S-400"}),
        ("İstanbul'da kar yağışı ulaşımı aksattı",
         "Meteoroloji, soğuk havanın hafta sonuna kadar etkili olacağını bildirdi.", set()),
        ("Merkez Bankası politika faizini sabit tuttu",
         "Karar, piyasaların beklentisiyle uyumlu oldu ve kurda dalgalanma yaşanmadı.", set()),
        ("Galatasaray deplasmanda farklı kazandı",
         "Sarı-kırmızılılar ligde liderliğini sürdürdü.", set()),
        ("Erdoğan: Savunma sanayii yeni bir döneme giriyor",
         "Cumhurbaşkanı, yerli hava savunma sistemlerinin bu yıl envantere gireceğini söyledi.",
         {"Turkey"}),
    ]),
    # The encoding only in the XML declaration: the header names none.
    ("/ru.xml", "ТАСС", "windows-1251", "application/rss+xml", [
        ("Турция может вернуть российские С-400",
         "Анкара и Вашингтон обсуждают судьбу 36 пусковых установок, купленных за 2,5 млрд долларов.",
         {"Turkey", "S-400"}),
        ("В Москве ожидается сильный снегопад",
         "Синоптики предупреждают о заторах на дорогах в выходные.", set()),
        ("Центробанк сохранил ключевую ставку",
         "Решение совпало с ожиданиями аналитиков, опрошенных накануне.", set()),
        ("«Спартак» обыграл «Зенит» в центральном матче тура",
         "Команды встретились на стадионе в Санкт-Петербурге.", set()),
        ("Эрдоган заявил о новом этапе сотрудничества с Москвой",
         "Президент Турции провёл телефонный разговор с российским коллегой.", {"Turkey"}),
    ]),
    ("/el.xml", "Η Καθημερινή", "iso-8859-7", "application/rss+xml; charset=ISO-8859-7", [
        ("Η Τουρκία εξετάζει την επιστροφή των S-400",
         "Η Άγκυρα συνομιλεί με την Ουάσιγκτον για τους 36 εκτοξευτές που αγόρασε έναντι 2,5 δισ. δολαρίων.",
         {"Turkey", "S-400"}),
        ("Χιονοπτώσεις στην Αττική το Σαββατοκύριακο",
         "Η ΕΜΥ εξέδωσε έκτακτο δελτίο επιδείνωσης του καιρού.", set()),
        ("Σταθερά τα επιτόκια της Ευρωπαϊκής Κεντρικής Τράπεζας",
         "Η απόφαση ήταν σύμφωνη με τις προβλέψεις των αναλυτών.", set()),
        ("Ο Ολυμπιακός νίκησε τον Παναθηναϊκό στο ντέρμπι",
         "Οι ερυθρόλευκοι παραμένουν στην κορυφή της βαθμολογίας.", set()),
        ("Ερντογάν: Νέα εποχή για την αμυντική βιομηχανία",
         "Ο Τούρκος πρόεδρος μίλησε για τα εγχώρια συστήματα αεράμυνας.", {"Turkey"}),
    ]),
    ("/ar.xml", "الجزيرة نت", "utf-8", "application/rss+xml; charset=utf-8", [
        ("تركيا تدرس إعادة منظومة إس-400 الروسية",
         "قالت مصادر في أنقرة إن المحادثات مع واشنطن بشأن 36 منصة إطلاق بقيمة 2.5 مليار دولار مستمرة.",
         {"Turkey", "S-400"}),
        ("أمطار غزيرة تضرب عدة مدن في المنطقة",
         "حذرت الأرصاد الجوية من سيول في المناطق المنخفضة.", set()),
        ("البنك المركزي يبقي أسعار الفائدة دون تغيير",
         "جاء القرار متوافقا مع توقعات المحللين.", set()),
        ("الهلال يفوز على النصر في قمة الدوري",
         "حافظ الفريق على صدارة جدول الترتيب.", set()),
        ("أردوغان: صناعة الدفاع المحلية تدخل مرحلة جديدة",
         "قال الرئيس إن أنظمة الدفاع الجوي المحلية ستدخل الخدمة قريبا.", {"Turkey"}),
    ]),
]  # fmt: skip
REPO = Path(__file__).resolve().parent.parent
LANGUAGE = {"/tr.xml": "tr", "/ru.xml": "ru", "/el.xml": "el", "/ar.xml": "ar"}

# A watch list in these languages (the names as each press writes them, with their endings).
TOPICS = """
topics:
  - name: Turkey
    rules:
      - any: [Türkiye*, Ankara*, Erdoğan*, Турци*, Анкар*, Эрдоган*, Τουρκ*, Άγκυρ*, Ερντογάν*,
              تركيا, أنقرة, أردوغان]
  - name: S-400
    rules:
      - any: [S-400, С-400, إس-400]
"""


def rss(title: str, encoding: str, items: list[tuple[str, str, set[str]]], now: datetime, base: str) -> bytes:  # fmt: skip
    entries = "".join(
        f"<item><title>{html.escape(t)}</title><link>{base}/{i}</link>"
        f"<guid>{base}/{i}</guid><description>{html.escape(s)}</description>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=10 * (i + 1)))}</pubDate></item>"
        for i, (t, s, _) in enumerate(items)
    )
    doc = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0"><channel>'
        f"<title>{html.escape(title)}</title><link>{base}/</link>{entries}</channel></rss>"
    )
    return doc.encode(encoding)


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> tuple[Path, Path]:
    """A real poll and digest of the four feeds; returns (warehouse, digest HTML)."""
    root = tmp_path_factory.mktemp("multilingual")
    now = datetime.now(UTC)
    server = FeedServer().start()
    try:
        feeds = []
        for path, name, encoding, content_type, items in FEEDS:
            body = rss(
                name, encoding, items, now, f"https://news.example{path.removesuffix('.xml')}"
            )
            # The body really is in that encoding (not UTF-8 labelled otherwise).
            assert encoding == "utf-8" or not _is_utf8(body)
            server.route(path, body=body, headers={"Content-Type": content_type})
            feeds.append((server.url(path), name))
        sources = write_sources(root / "sources.yaml", feeds, topics=TOPICS)
        db = root / "wh" / "news.duckdb"
        poll_once(sources, db)
        out = io.StringIO()
        args = ["digest", "--sources", str(sources), "--db", str(db), "--out", str(root / "out")]
        assert cli.main(args, out=out) == 0, out.getvalue()
    finally:
        server.stop()
    pages = sorted((root / "out").glob("digest-*.html"))
    assert len(pages) == 1, out.getvalue()
    return db, pages[0]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_every_article_is_stored_with_its_text_and_its_language(polled: tuple[Path, Path]) -> None:
    db, _ = polled
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT feed_url, title, summary, language FROM articles").fetchall()
    finally:
        con.close()
    stored = {(title, summary): (url, lang) for url, title, summary, lang in rows}
    assert len(stored) == sum(len(items) for *_, items in FEEDS)
    for path, _, _, _, items in FEEDS:
        for title, summary, _ in items:
            url, lang = stored[(title, summary)]  # decoded exactly, every character
            assert url.endswith(path)
            assert lang == LANGUAGE[path], (title, lang)


def test_the_same_event_in_four_languages_is_one_story(polled: tuple[Path, Path]) -> None:
    # The S-400 reports share their figures (36 launchers, $2.5 billion): one cluster; the
    # four Erdoğan reports share none: four stories.
    db, _ = polled
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT a.title, c.cluster_id FROM articles a JOIN article_clusters c ON c.article_id = a.id"
        ).fetchall()
    finally:
        con.close()
    cluster = dict(rows)
    s400 = {items[0][0] for *_, items in FEEDS}
    others = {items[4][0] for *_, items in FEEDS}
    assert len({cluster[t] for t in s400}) == 1
    assert len({cluster[t] for t in others}) == 4
    assert not {cluster[t] for t in s400} & {cluster[t] for t in others}


def test_topics_written_in_those_languages_match(polled: tuple[Path, Path]) -> None:
    db, _ = polled
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT a.title, list_sort(list(t.topic)) FROM articles a "
            "JOIN article_topics t ON t.article_id = a.id GROUP BY a.title"
        ).fetchall()
    finally:
        con.close()
    got = {title: set(topics) for title, topics in rows}
    want = {t: topics for *_, items in FEEDS for t, _, topics in items if topics}
    assert got == want


# -- the digest in a real browser ------------------------------------------------------------

WIDTH = 600
HEIGHT = 2400

PROBE = """
<script>
window.addEventListener("load", () => {
  const out = [];
  for (const el of document.querySelectorAll(".story-title")) {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    out.push({text: el.textContent.trim(), lang: el.getAttribute("lang"),
              direction: s.direction, align: s.textAlign,
              x: r.left, y: r.top, w: r.width, h: r.height,
              meta: el.parentElement.querySelector(".meta").textContent,
              also: (el.parentElement.querySelector(".also") || {textContent: ""}).textContent});
  }
  document.title = JSON.stringify(out);
});
</script>
"""


def layout(page: Path, profile: Path) -> list[dict[str, object]]:
    """Each story title's text, lang, computed direction and box, from Chromium's DOM."""
    probe = page.with_name("probe.html")
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
    )
    result = subprocess.run(
        [*chromium_command(profile), f"--window-size={WIDTH},{HEIGHT}", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    title = re.search(r"<title>(.*?)</title>", result.stdout, re.S)
    assert title is not None, result.stdout[:500]
    data: list[dict[str, object]] = json.loads(html.unescape(title.group(1)))
    return data


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB bytes) of an 8-bit RGB or RGBA PNG without interlacing."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        prev = line
        rows.append(bytes(line[i] for i in range(stride) if i % channels < 3))
    return width, height, rows


def ink_columns(rows: list[bytes], box: dict[str, object]) -> tuple[int, int] | None:
    """The leftmost and rightmost column of dark pixels inside `box` (CSS px = device px)."""
    x0, y0 = int(box["x"]), int(box["y"])  # type: ignore[call-overload]
    x1, y1 = x0 + int(box["w"]), y0 + int(box["h"])  # type: ignore[call-overload]
    cols = [
        x
        for x in range(x0, x1)
        if any(sum(rows[y][3 * x : 3 * x + 3]) < 3 * 110 for y in range(y0, y1))
    ]
    return (cols[0], cols[-1]) if cols else None


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert CHROMIUM.exists(), f"{CHROMIUM} is needed for these tests"
    return tmp_path_factory.mktemp("chromium-profile")


def test_the_digest_renders_every_script_and_arabic_right_to_left(
    polled: tuple[Path, Path], profile: Path, tmp_path: Path
) -> None:
    _, page = polled
    titles = layout(page, profile)
    # The S-400 story (one report leads, the three others are "also reported by" with their
    # language), then the four Erdoğan stories, one per language.
    assert {t["lang"] for t in titles} == {"tr", "ru", "el", "ar"}
    assert len(titles) == 5, [t["text"] for t in titles]
    s400 = {items[0][0] for *_, items in FEEDS}
    (lead,) = [t for t in titles if t["text"] in s400]
    also = str(lead["also"])
    for path, outlet, *_ in FEEDS:
        name = {"tr": "Turkish", "ru": "Russian", "el": "Greek", "ar": "Arabic"}[LANGUAGE[path]]
        if LANGUAGE[path] != lead["lang"]:
            assert f"{outlet} ({name})" in also, also
    for t in titles:
        rtl = t["lang"] == "ar"
        assert t["direction"] == ("rtl" if rtl else "ltr"), t
        name = {"tr": "Turkish", "ru": "Russian", "el": "Greek", "ar": "Arabic"}[str(t["lang"])]
        assert f"· {name}" in str(t["meta"]), t
    others = {items[4][0] for *_, items in FEEDS}
    assert {t["text"] for t in titles} == others | {lead["text"]}  # every script intact

    shots = Path(os.environ.get("NEWSWATCH_SCREENSHOT_DIR") or REPO / "build" / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    png = shots / "digest-multilingual.png"
    screenshot(page, png, WIDTH, HEIGHT, profile)
    print(f"multilingual digest screenshot: {png}")
    width, height, rows = read_png(png)
    assert (width, height) == (WIDTH, HEIGHT)
    for t in titles:
        assert float(t["y"]) + float(t["h"]) < HEIGHT, "the title lies below the screenshot"  # type: ignore[arg-type]
        ink = ink_columns(rows, t)
        assert ink is not None, f"nothing drawn for {t['text']}"
        left, right = ink
        x0, x1 = float(t["x"]), float(t["x"]) + float(t["w"])  # type: ignore[arg-type]
        if t["lang"] == "ar":
            # Right to left: the text hugs the right edge of its box, space on the left.
            assert x1 - right <= 6 and left - x0 > 40, (t["text"], left, right, x0, x1)
        else:
            assert left - x0 <= 6, (t["text"], left, right, x0, x1)


@pytest.mark.parametrize(
    ("query", "want"),
    [
        # Russian: "Турция" (nominative) finds "Турции" (genitive) and the title's "Турция".
        (
            "Турция",
            {
                "Турция может вернуть российские С-400",
                "Эрдоган заявил о новом этапе сотрудничества с Москвой",
            },
        ),
        # Turkish: "savunma sistemi" finds "savunma sistemlerinin".
        ("savunma sistemi", {"Erdoğan: Savunma sanayii yeni bir döneme giriyor"}),
        ("Τουρκία", {"Η Τουρκία εξετάζει την επιστροφή των S-400"}),
        ("تركيا", {"تركيا تدرس إعادة منظومة إس-400 الروسية"}),
    ],
)
def test_search_finds_articles_by_their_own_words(
    polled: tuple[Path, Path], query: str, want: set[str]
) -> None:
    db, _ = polled
    out = io.StringIO()
    assert cli.main(["search", query, "--db", str(db), "--format", "json"], out=out) == 0
    found = {hit["title"] for hit in json.loads(out.getvalue())}
    assert want <= found, found
