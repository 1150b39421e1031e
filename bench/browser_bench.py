"""Run the editor benchmark in a real headless Chromium and print its timings.

    .venv/bin/python bench/browser_bench.py [--size 2048] [--cells 2000] [--runs 15] [--screenshot bench/out/editor.png]

Serves the repository read-only on 127.0.0.1 (the page imports the editor's modules directly),
opens bench/editor_bench.html and waits for window.benchResults. Chromium: /usr/bin/chromium
(Debian packages chromium and chromium-driver), or set CHROMIUM.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


class Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript", ".mjs": "text/javascript"}

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--screenshot", default="")
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(REPO)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/bench/editor_bench.html?size={args.size}&cells={args.cells}&runs={args.runs}"
    try:
        with sync_playwright() as p:
            chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            page.wait_for_function("window.benchResults !== undefined", timeout=300_000)
            results = page.evaluate("window.benchResults")
            if args.screenshot:
                Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=args.screenshot)
            browser.close()
    finally:
        server.shutdown()
    print(json.dumps({"errors": errors, **results}, indent=1))


if __name__ == "__main__":
    main()
