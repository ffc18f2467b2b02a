"""The HTML digest in a real browser: headless Chromium lays it out at phone and desktop
widths, in light and dark mode, and takes screenshots.

The digest is the one a real `newswatch run` writes for the 25 captured feeds served from
127.0.0.1 (bench/make_screenshot.py, the same run that makes the README's screenshot).

Screenshots go to $NEWSWATCH_SCREENSHOT_DIR when set; otherwise to a pytest temp dir and
a copy in build/screenshots/ (git-ignored), whose path is printed.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from bench.make_screenshot import CHROMIUM, run_pipeline, screenshot
from bench.make_screenshot import chromium_command as chromium_flags

from tests.conftest import CORPUS

REPO = Path(__file__).resolve().parent.parent
WIDTHS = (320, 375, 600)
# A page that does overflow at phone width: proves the probe can see overflow at all.
OVERFLOWING = (
    '<!DOCTYPE html><html><body><table width="900"><tr><td>wide</td></tr></table></body></html>'
)


@pytest.fixture(scope="module")
def digest_file(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> Path:
    return run_pipeline(tmp_path_factory.mktemp("real-run"), CORPUS / "realnews")


@pytest.fixture(scope="module")
def page(digest_file: Path) -> str:
    return digest_file.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert CHROMIUM.exists(), f"{CHROMIUM} is needed for these tests"
    return tmp_path_factory.mktemp("chromium-profile")


def probe_page(frames: dict[str, tuple[int, str]]) -> str:
    """A page holding each document in an iframe of the given width; once all have loaded
    it writes, per frame, the layout width, viewport width and container background into
    <title> as JSON for --dump-dom to carry out."""
    iframes = "\n".join(
        f'<iframe id="{name}" style="border:0;width:{width}px;height:900px" '
        f'srcdoc="{html.escape(doc, quote=True)}"></iframe>'
        for name, (width, doc) in frames.items()
    )
    script = """
    window.addEventListener("load", () => {
      const out = {};
      for (const f of document.querySelectorAll("iframe")) {
        const d = f.contentDocument, w = f.contentWindow;
        const box = d.querySelector(".container");
        out[f.id] = {
          scrollWidth: d.documentElement.scrollWidth,
          innerWidth: w.innerWidth,
          fits: d.documentElement.scrollWidth <= w.innerWidth,
          background: box ? w.getComputedStyle(box).backgroundColor : null,
          dark: w.matchMedia("(prefers-color-scheme: dark)").matches,
          bars: [...d.querySelectorAll("td.bar, td.bar-zero")].map(
            (td) => [Number(td.getAttribute("height")), td.getBoundingClientRect().height]),
          stories: d.querySelectorAll(".story-title").length,
          numbers: [...d.querySelectorAll("td.chart-num")].map((td) => td.innerText.trim()),
          days: [...d.querySelectorAll("td.chart-label")].map((td) => td.innerText.trim()),
          sections: [...d.querySelectorAll(".section-title")].map((e) => e.innerText.trim()),
          counts: [...d.querySelectorAll(".count-topic")].map(
            (td) => [td.innerText.trim(), td.nextElementSibling.innerText.trim()]),
          seeAlso: [...d.querySelectorAll(".see-also")].map((td) => td.innerText.trim()),
        };
      }
      document.title = JSON.stringify(out);
    });
    """
    return (
        "<!DOCTYPE html><html><head><title>pending</title></head>"
        f'<body style="margin:0">{iframes}<script>{script}</script></body></html>'
    )


def run_probe(tmp_path: Path, profile: Path, frames: dict[str, tuple[int, str]],
              *extra: str) -> dict[str, dict[str, object]]:  # fmt: skip
    probe = tmp_path / "probe.html"
    probe.write_text(probe_page(frames), encoding="utf-8")
    result = subprocess.run(
        [*chromium_flags(profile), *extra, "--window-size=1200,1000", "--dump-dom",
         probe.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    title = re.search(r"<title>(.*?)</title>", result.stdout, re.S)
    assert title is not None, result.stdout[:500]
    data: dict[str, dict[str, object]] = json.loads(html.unescape(title.group(1)))
    return data


def _rgb(css: object) -> tuple[int, ...]:
    assert isinstance(css, str)
    return tuple(int(x) for x in re.findall(r"\d+", css)[:3])


def test_no_horizontal_overflow_at_phone_and_desktop_widths(
    page: str, profile: Path, tmp_path: Path
) -> None:
    frames = {f"w{w}": (w, page) for w in WIDTHS}
    frames["control"] = (375, OVERFLOWING)
    result = run_probe(tmp_path, profile, frames)
    assert result["control"]["fits"] is False, result["control"]  # the probe sees overflow
    for w in WIDTHS:
        r = result[f"w{w}"]
        assert r["innerWidth"] == w, r
        assert r["fits"] is True, (w, r)
        assert r["dark"] is False
        assert _rgb(r["background"]) == (255, 255, 255)


def test_dark_mode_turns_the_page_dark(page: str, profile: Path, tmp_path: Path) -> None:
    result = run_probe(tmp_path, profile, {"w375": (375, page)}, "--force-dark-mode")
    r = result["w375"]
    assert r["dark"] is True
    assert r["fits"] is True
    assert max(_rgb(r["background"])) < 60, r  # a dark card, not the light one


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_chart_bars_are_drawn_at_their_height_attributes(
    page: str, profile: Path, tmp_path: Path
) -> None:
    # Table cells with height attributes (what Outlook honours) also lay out right here.
    result = run_probe(tmp_path, profile, {"w600": (600, page)})
    bars = result["w600"]["bars"]
    assert isinstance(bars, list) and len(bars) == 3 * 7  # three topics, seven days
    assert any(attr > 1 for attr, _ in bars)  # real bars, not only the zero line
    for attr, drawn in bars:
        assert abs(drawn - attr) < 1, (attr, drawn)


def test_screenshots_at_600_and_375(page: str, profile: Path, tmp_path: Path) -> None:
    env_dir = os.environ.get("NEWSWATCH_SCREENSHOT_DIR")
    out = Path(env_dir) if env_dir else tmp_path / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    source = tmp_path / "digest.html"
    source.write_text(page, encoding="utf-8")
    shots = []
    for width in (600, 375):
        png = out / f"digest-{width}.png"
        screenshot(source, png, width, 2200, profile)
        assert png_size(png) == (width, 2200)
        # A rendered page of text, highlights and bars compresses far worse than a blank one.
        assert png.stat().st_size > 40_000, png
        shots.append(png)
    if not env_dir:
        keep = REPO / "build" / "screenshots"
        keep.mkdir(parents=True, exist_ok=True)
        for png in shots:
            shutil.copy2(png, keep / png.name)
        out = keep
    print(f"digest screenshots: {out}")
    result = run_probe(tmp_path, profile, {"w600": (600, page)})
    assert result["w600"]["stories"] >= 5  # a real, busy digest


def test_every_topic_with_a_story_shows_and_the_bars_share_one_scale(
    page: str, profile: Path, tmp_path: Path
) -> None:
    """The real run's digest as Chromium lays it out: each topic counted in the header with
    a story has a section (stories, or cross-references to where they are listed); each bar
    shows its count, is drawn on one scale across topics, under a dated day label."""
    r = run_probe(tmp_path, profile, {"w600": (600, page)})["w600"]
    counts = {topic: int(text.split()[0]) for topic, text in r["counts"]}  # type: ignore[union-attr]
    sections = [title.split(" · ")[0] for title in r["sections"]]  # type: ignore[union-attr]
    assert sections == [t for t, n in counts.items() if n], (counts, sections)
    for line in r["seeAlso"]:  # type: ignore[union-attr]
        assert re.fullmatch(r"[\w-]+: see “.+” \(.+\) under [\w-]+", line), line
    numbers = [int(n) for n in r["numbers"]]  # type: ignore[union-attr]
    bars = r["bars"]
    assert isinstance(bars, list) and len(numbers) == len(bars) == 3 * 7
    peak = max(numbers)
    for n, (_attr, drawn) in zip(numbers, bars, strict=True):
        if n:  # one scale: a day's bar is its share of the largest day of any topic
            assert abs(drawn - max(3, -(-28 * n // peak))) < 1, (n, drawn, peak)
    for label in r["days"]:  # type: ignore[union-attr]
        assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+\d{1,2}", label), label
