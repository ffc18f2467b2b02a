"""How the writer's connection is set up: what keeps its memory flat as polls grow."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from newswatch.store import warehouse


def test_the_writer_stores_small_row_groups_under_the_files_own_name(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    rows = 3 * warehouse.WRITER_ROW_GROUP_SIZE + 5
    with warehouse.connect(db) as con:
        # Users' SQL may name the database as a plain connect would: after the file.
        assert con.execute("SELECT current_database()").fetchone() == ("news",)
        con.execute(
            f"CREATE TABLE big AS SELECT range AS n, repeat('x', 50) AS s FROM range({rows})"
        )
        con.execute("INSERT INTO news.big VALUES (-1, 'qualified')")
    with duckdb.connect(str(db), read_only=True) as plain:
        groups = plain.execute(
            "SELECT row_group_id, max(count) FROM pragma_storage_info('big') GROUP BY ALL"
        ).fetchall()
        assert plain.execute("SELECT count(*) FROM big").fetchone() == (rows + 1,)
    assert len(groups) == 4
    assert max(count for _, count in groups) <= warehouse.WRITER_ROW_GROUP_SIZE


def test_a_file_named_like_a_builtin_catalog_still_opens(tmp_path: Path) -> None:
    with warehouse.connect(tmp_path / "memory.duckdb") as con:
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() != (0,)
    with warehouse.connect(tmp_path / "memory.duckdb", read_only=True) as con:
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() != (0,)


def test_scan_memory_lowers_the_cap_while_python_reads_and_gives_it_back(tmp_path: Path) -> None:
    """What that saves is measured by bench/bench_poll.py; here, that the cap comes back."""

    def limit(con: duckdb.DuckDBPyConnection) -> str:
        row = con.execute("SELECT memory_limit FROM pragma_database_size()").fetchone()
        assert row is not None
        return str(row[0])

    with warehouse.connect(tmp_path / "news.duckdb") as con:
        capped = limit(con)
        con.execute("CREATE TABLE big AS SELECT md5(range::VARCHAR) AS s FROM range(200000)")
        with warehouse.scan_memory(con):
            assert limit(con) == "30.5 MiB" != capped  # 32 MB, as DuckDB prints it
            assert con.execute("SELECT count(DISTINCT s) FROM big").fetchone() == (200_000,)
        assert limit(con) == capped
        with pytest.raises(RuntimeError), warehouse.scan_memory(con):
            raise RuntimeError("clustering failed")
        assert limit(con) == capped


def test_string_lists_travel_as_one_parameter() -> None:
    """Ids, URLs and statuses reach DuckDB joined by U+001F (a list is bound element by
    element, ~70 µs each); none, no rows; a value holding the separator is refused."""
    import duckdb

    from newswatch.store.warehouse import TEXT_LIST, text_list

    con = duckdb.connect()
    query = f"SELECT v FROM ({TEXT_LIST}) t(v) ORDER BY v"
    ids = [f"{i:064x}" for i in range(3)] + ["https://example.org/feed?a=1&b=ü"]
    assert [r[0] for r in con.execute(query, [text_list(ids)]).fetchall()] == sorted(ids)
    assert con.execute(query, [text_list([])]).fetchall() == []
    with pytest.raises(ValueError, match="separator"):
        text_list(["a\x1fb"])


def test_scans_beside_python_run_small_and_on_one_thread(tmp_path: Path) -> None:
    """Clustering reads rows under scan_memory: DuckDB's cache capped and one thread (a scan
    of 3 KB article bodies on two threads outgrew the cap: "Out of Memory" in the refresh
    of a 1,000-feed poll with content); the writer's settings come back afterwards."""
    from newswatch.store import warehouse

    with warehouse.connect(tmp_path / "w.duckdb", wait_seconds=1, threads=2) as con:

        def setting(name: str) -> str:
            row = con.execute(f"SELECT current_setting('{name}')").fetchone()
            assert row is not None
            return str(row[0])

        before = (setting("threads"), setting("memory_limit"))
        with warehouse.scan_memory(con):
            assert setting("threads") == "1"
            assert setting("memory_limit") != before[1]
        assert (setting("threads"), setting("memory_limit")) == before


def test_cluster_text_is_the_summary_or_for_a_headline_only_summary_the_body(
    tmp_path: Path,
) -> None:
    from newswatch.digest.cluster import SHORT_SUMMARY_CHARS, SUMMARY_CHARS
    from newswatch.store import warehouse

    long_summary = "Ministers met in Brussels to discuss air defence. " * 20
    body = "The body names the S-400 deal and the talks in Ankara. " * 40
    rows = [
        ("short", "Headline only", body),  # a teaser summary: the body stands in
        ("long", long_summary, body),  # a real summary: it is used, the body is not read
        ("none", "Short again", ""),  # no body: the short summary it is
    ]
    with warehouse.connect(tmp_path / "w.duckdb", wait_seconds=1, threads=2) as con:
        for aid, summary, content in rows:
            con.execute(
                "INSERT INTO articles (id, feed_url, source, url, title, summary, summary_html, "
                "published_at, published_at_known, guid, author, first_seen_at, poll_id, "
                "language, content, content_html) VALUES (?, 'http://127.0.0.1/f', 's', "
                "'http://127.0.0.1/' || ?, 't', ?, '', now(), true, ?, '', now(), 'p', 'en', ?, '')",
                [aid, aid, summary, aid, content],
            )
        limit = "SELECT current_setting('memory_limit')"
        with warehouse.scan_memory(con):
            cap = con.execute(limit).fetchone()
            got = warehouse.cluster_summaries(con, ["short", "long", "none", "missing"])
            assert con.execute(limit).fetchone() == cap  # the scan's small cap is back
    assert len("Headline only") < SHORT_SUMMARY_CHARS <= len(long_summary)
    assert got == {
        "short": body[:SUMMARY_CHARS],
        "long": long_summary[:SUMMARY_CHARS],
        "none": "Short again",
    }
