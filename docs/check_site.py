"""Check the built documentation site in a real browser (headless Chromium via Selenium and chromedriver).

    python docs/check_site.py docs/_build/html [--screenshots DIR] [--pages index.html,...]

For each page (default: the home page and the first tutorial) it serves the site on 127.0.0.1, opens the page
in headless Chromium, saves a full-width screenshot, and checks that every image has loaded (``complete`` and
a non-zero ``naturalWidth``). Over the whole site it checks that every internal link (``href``/``src`` to a
file of the site, with its ``#anchor`` where one is given) resolves. Exits 1 listing every problem, else 0.

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``, ``/usr/bin/chromedriver``) and the
``selenium`` package (the ``docs`` extra). Nothing is downloaded; the browser runs with no network but the
local server.
"""

from __future__ import annotations

import argparse
import functools
import html.parser
import http.server
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

DEFAULT_PAGES = ("index.html", "auto_tutorials/01_stress_vs_backprop.html")
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1400,1000", "--hide-scrollbars")


# --------------------------------------------------------------------------------------------- static link check
class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str]] = []     # (attribute, value)
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "a" and a.get("href"):
            self.refs.append(("href", a["href"]))
        elif tag in ("img", "script") and a.get("src"):
            self.refs.append(("src", a["src"]))
        elif tag == "link" and a.get("href") and a.get("rel") and "stylesheet" in a.get("rel", ""):
            self.refs.append(("href", a["href"]))


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    return p


def check_links(root: Path) -> tuple[int, list[str]]:
    """Every internal href/src of every HTML page resolves to a file of the site (and an id, for #anchors)."""
    root = root.resolve()
    pages = sorted(p for p in root.rglob("*.html") if "_static" not in p.relative_to(root).parts)
    parsed: dict[Path, _Links] = {}
    problems = []
    n = 0
    for page in pages:
        links = parsed.setdefault(page, _parse(page))
        for attr, ref in links.refs:
            scheme = urlparse(ref).scheme
            if scheme in ("http", "https", "mailto", "data", "javascript") or ref.startswith("//"):
                continue
            n += 1
            url, frag = urldefrag(ref)
            url = urlparse(url).path                       # drop ?v=... cache busters
            target = page if not url else (page.parent / unquote(url)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if root not in target.parents and target != root:
                problems.append(f"{page.relative_to(root)}: {attr}={ref!r} points outside the site")
                continue
            if not target.exists():
                problems.append(f"{page.relative_to(root)}: {attr}={ref!r} -> missing {target.relative_to(root)}")
                continue
            if frag and target.suffix == ".html":
                tl = parsed.setdefault(target, _parse(target))
                if unquote(frag) not in tl.ids:
                    problems.append(f"{page.relative_to(root)}: {attr}={ref!r}: no element with id {frag!r}")
    return n, problems


# --------------------------------------------------------------------------------------------- browser check
def _serve(root: Path):
    handler = functools.partial(_QuietHandler, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D401 - silence the per-request log
        pass


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if not chromium or not driver:
        raise SystemExit("check_site: needs Debian's chromium and chromium-driver "
                         "(apt-get install -y chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for f in CHROMIUM_FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='analogsim-chromium-')}")
    d = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
    d.set_page_load_timeout(60)
    return d


_IMAGES_JS = """
return Array.from(document.images).map(img => ({
  src: img.currentSrc || img.src, complete: img.complete, w: img.naturalWidth, h: img.naturalHeight}));
"""


def check_pages(root: Path, pages, shots: Path | None) -> tuple[list[str], list[str]]:
    """Open each page in headless Chromium; screenshot it; every <img> must have loaded."""
    problems, notes = [], []
    srv = _serve(root)
    base = f"http://127.0.0.1:{srv.server_address[1]}/"
    d = _driver()
    try:
        for page in pages:
            if not (root / page).exists():
                problems.append(f"{page}: not built")
                continue
            d.get(urljoin(base, page))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                imgs = d.execute_script(_IMAGES_JS)
                if all(i["complete"] for i in imgs):
                    break
                time.sleep(0.2)
            else:
                problems.append(f"{page}: images still loading after 30 s")
            imgs = d.execute_script(_IMAGES_JS)
            bad = [i["src"] for i in imgs if not i["complete"] or i["w"] == 0]
            problems += [f"{page}: image did not load: {src}" for src in bad]
            title = d.title
            if shots is not None:
                shots.mkdir(parents=True, exist_ok=True)
                h = d.execute_script("return Math.min(document.body.scrollHeight, 6000)")
                d.set_window_size(1400, max(800, int(h)))
                out = shots / (page.replace("/", "_").replace(".html", "") + ".png")
                d.save_screenshot(str(out))
                d.set_window_size(1400, 1000)
                notes.append(f"{page}: '{title}', {len(imgs)} images loaded, screenshot {out}")
            else:
                notes.append(f"{page}: '{title}', {len(imgs)} images loaded")
    finally:
        d.quit()
        srv.shutdown()
    return problems, notes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("site", type=Path, help="the built site (docs/_build/html)")
    ap.add_argument("--screenshots", type=Path, default=None, help="folder for the screenshots")
    ap.add_argument("--pages", default=",".join(DEFAULT_PAGES), help="comma-separated pages to open")
    ap.add_argument("--no-browser", action="store_true", help="only the link check (no Chromium)")
    args = ap.parse_args(argv)
    root = args.site.resolve()
    if not (root / "index.html").exists():
        print(f"check_site: no index.html in {args.site}: build the site first (bash docs/build.sh)", file=sys.stderr)
        return 2
    n, problems = check_links(root)
    print(f"check_site: {n} internal links in {len(list(root.rglob('*.html')))} pages checked")
    if not args.no_browser:
        p, notes = check_pages(root, [s for s in args.pages.split(",") if s], args.screenshots)
        problems += p
        for line in notes:
            print("check_site:", line)
    for line in problems:
        print("check_site: PROBLEM", line, file=sys.stderr)
    print(f"check_site: {'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
