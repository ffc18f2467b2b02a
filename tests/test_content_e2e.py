"""End to end: items that carry their full story in content:encoded, polled from a loopback
feed server into a real DuckDB file, matched on the body, scored, indexed and shown in the
digest with the sentence that matched."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import duckdb

from newswatch import cli
from tests.feedserver import FeedServer
from tests.helpers import write_sources

BODY_ONLY = "Alliance chief warns of a decade of danger"
BODY_SENTENCE = (
    "NATO Secretary General Mark Rutte told the Munich Security Conference that Europe had to "
    "move its defence industries onto a war footing."
)
PASSING = "German economy contracts again in third quarter"
ABOUT = "NATO allies agree to raise defence spending target"
RECIPE = "Weeknight dinner ideas the whole family will eat"


def content_feed(now: datetime) -> bytes:
    items = [
        {
            "title": BODY_ONLY,
            "link": "https://news.example/munich",
            "description": "The speech urged European capitals to spend more on air defence.",
            "content": (
                f"<p>MUNICH - {BODY_SENTENCE} The former Dutch prime minister was blunt.</p>"
                "<p>Rutte singled out air defence and long-range missiles "
                "as gaps. &quot;We are not at war, but we are not at peace either,&quot; he "
                "said.</p><script>alert(1)</script>"
            ),
        },
        {
            "title": ABOUT,
            "link": "https://news.example/hague",
            "description": "NATO leaders agreed on a new target of 5% of GDP.",
            "content": (
                "<p>THE HAGUE - Leaders of the 32 NATO allies agreed on Wednesday to raise "
                "their defence spending target. NATO Secretary General Mark Rutte called it a "
                "quantum leap. The NATO summit communique was five paragraphs long.</p>"
            ),
        },
        {
            "title": PASSING,
            "link": "https://news.example/economy",
            "description": "Exports fell as US tariffs took effect.",
            "content": (
                "<p>BERLIN - Germany's economy shrank by 0.2% in the third quarter, the "
                "statistics office said. Exports to the United States fell. Consumers held "
                "back spending. Car makers cut output. Economists expect a weak winter.</p>"
                "<p>The government has promised to raise investment to meet its NATO "
                "commitments, which could support growth next year.</p>"
            ),
        },
        {
            "title": RECIPE,
            "link": "https://news.example/recipes",
            "description": "Five quick recipes for busy evenings.",
            "content": (
                "<p>Pan-fry a turkey breast with lemon and garlic and serve it with rice. "
                "Leftover turkey makes a quick Turkey club sandwich the next day.</p>"
            ),
        },
    ]
    parts = []
    for n, item in enumerate(items):
        parts.append(
            "<item>"
            f"<title>{escape(item['title'])}</title><link>{item['link']}</link>"
            f"<guid>{item['link']}</guid>"
            f"<pubDate>{format_datetime(now - timedelta(minutes=5 * n))}</pubDate>"
            f"<description>{escape(item['description'])}</description>"
            f"<content:encoded><![CDATA[{item['content']}]]></content:encoded>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        "<title>Wire</title><link>https://news.example/</link><description>t</description>"
        + "".join(parts)
        + "</channel></rss>"
    ).encode()


def test_content_is_stored_matched_scored_indexed_and_shown(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    feed_server.route(
        "/wire.xml",
        body=content_feed(datetime.now(UTC)),
        headers={"Content-Type": "application/rss+xml"},
    )
    sources = write_sources(tmp_path / "sources.yaml", [(feed_server.url("/wire.xml"), "Wire")])
    db = tmp_path / "wh" / "news.duckdb"
    digests = tmp_path / "digests"
    out = io.StringIO()
    argv = ["run", "--sources", str(sources), "--db", str(db), "--out", str(digests)]
    assert cli.main(argv, out=out) == 0, out.getvalue()

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT title, summary, content, content_html FROM articles"
            ).fetchall()
        }
        summary, content, content_html = rows[BODY_ONLY]
        # The teaser stays the summary; the story is kept as text and as sanitised HTML.
        assert summary.startswith("The speech urged")
        assert BODY_SENTENCE in content
        assert "<p>" in content_html and "<script" not in content_html
        assert "alert(1)" not in content
        # NATO is named only in the body: matched there, and the hit says so.
        hits = con.execute(
            "SELECT h.field, h.matched_text FROM match_hits h JOIN articles a "
            "ON a.id = h.article_id WHERE a.title = ? AND h.topic = 'NATO'",
            [BODY_ONLY],
        ).fetchall()
        # (The title and summary add only context words a rule also needed.)
        assert ("content", "NATO") in hits
        assert not [t for f, t in hits if f != "content" and "NATO" in t.upper()]
        relevance = dict(
            con.execute(
                "SELECT a.title, t.relevance FROM article_topics t JOIN articles a "
                "ON a.id = t.article_id WHERE t.topic = 'NATO'"
            ).fetchall()
        )
        assert set(relevance) == {BODY_ONLY, ABOUT, PASSING}
        assert relevance[ABOUT] > relevance[BODY_ONLY] > relevance[PASSING]
        # Why it matched, with the text around each hit taken from the hit's own field.
        explained = con.execute(
            "SELECT field, matched_text, context FROM match_explanations"
        ).fetchall()
        assert {f for f, _, _ in explained} >= {"title", "summary", "content"}
        assert all(text in context for _, text, context in explained), explained
        assert any(f == "content" and "Munich Security Conference" in c for f, _, c in explained)
        recipe = con.execute(
            "SELECT count(*) FROM article_topics t JOIN articles a ON a.id = t.article_id "
            "WHERE a.title = ?",
            [RECIPE],
        ).fetchone()
        assert recipe == (0,)
    finally:
        con.close()

    # The digest shows the body-only story with the sentence that matched, the story about
    # NATO first, and the passing mention folded into "Also mentioned" without a snippet.
    [html_file] = digests.glob("digest-*.html")
    html = html_file.read_text(encoding="utf-8")
    plain = html_file.with_suffix(".txt").read_text(encoding="utf-8")
    assert BODY_ONLY in plain
    assert "NATO Secretary General Mark Rutte told the Munich Security Conference" in " ".join(
        plain.split()
    )
    assert re.search(r'<span class="hl"[^>]*>NATO</span>', html)
    assert plain.index(ABOUT) < plain.index(BODY_ONLY)
    mentioned = plain.index("Also mentioned:")
    assert plain.index(PASSING) > mentioned > plain.index(BODY_ONLY)
    assert "Exports fell" not in plain  # no snippet for a passing mention
    assert "Also mentioned:" in html
    assert RECIPE not in plain

    # The full-text index covers the content: a word only the body has finds the story.
    out = io.StringIO()
    assert cli.main(["search", "Munich Security Conference", "--db", str(db)], out=out) == 0
    assert BODY_ONLY in out.getvalue()
    # ... and its snippet is the body's words around the match, not the teaser's start.
    [snippet_line] = [line for line in out.getvalue().splitlines() if "Munich" in line]
    assert "Munich Security Conference" in snippet_line and "The speech urged" not in snippet_line
