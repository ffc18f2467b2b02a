"""Render a realistic digest (captured real feeds + the seed story) and screenshot it.

    PYTHONPATH=src:. python bench/make_screenshot.py [--out docs/digest-screenshot.png]

Writes the PNG (600 px wide, headless Chromium) plus the HTML and text versions beside
it under build/, and prints where they went.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.digest_helpers import real_digest, screenshot

from newswatch.digest import render_html, render_text, subject
from newswatch.resources import templates_dir

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "digest-screenshot.png")
    parser.add_argument("--width", type=int, default=600)
    parser.add_argument("--height", type=int, default=1900)
    args = parser.parse_args()

    digest = real_digest()
    started = time.perf_counter()
    page = render_html(digest, templates_dir())
    text = render_text(digest, templates_dir())
    render_ms = (time.perf_counter() - started) * 1000

    build = REPO / "build"
    build.mkdir(exist_ok=True)
    (build / "digest-sample.html").write_text(page, encoding="utf-8")
    (build / "digest-sample.txt").write_text(text, encoding="utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        screenshot(build / "digest-sample.html", args.out, args.width, args.height, Path(profile))
    print(f"subject:    {subject(digest)}")
    print(f"render:     {render_ms:.1f} ms (HTML + text)")
    print(f"screenshot: {args.out}")
    print(f"html/text:  {build / 'digest-sample.html'}, {build / 'digest-sample.txt'}")


if __name__ == "__main__":
    main()
