#!/usr/bin/env python3
"""A tiny ticket shop to stand in for a real origin in the demo (standard library only).

  python3 scripts/demo-origin.py PORT
"""
import html
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!doctype html><html lang="en"><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title>
<body style="font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em">
<h1>{title}</h1>{body}
<hr><p><small>Demo origin behind Waitroom. You asked for <code>{path}</code>.
The gateway added <code>Via: {via}</code> and <code>X-Forwarded-For: {xff}</code>.</small></p>
</body></html>"""

ROUTES = {
    "/": ("Winter Concert 2026", "<p>Tickets go on sale soon.</p>"
          "<ul><li><a href=\"/tickets\">See tickets</a></li><li><a href=\"/checkout\">Checkout</a></li></ul>"),
    "/tickets": ("Tickets", "<p>Standing: 45 EUR. Seated: 80 EUR.</p><p><a href=\"/checkout\">Buy</a></p>"),
    "/checkout": ("Checkout", "<p>This is the protected checkout. With the waiting room enabled, "
                  "buyers reach it in the order they arrived.</p><form method=post action=\"/checkout/pay\">"
                  "<button>Pay</button></form>"),
    "/checkout/pay": ("Thank you", "<p>Your (pretend) order is confirmed.</p>"),
}


class Shop(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "demo-shop"

    def _page(self):
        path = self.path.split("?", 1)[0]
        title, body = ROUTES.get(path.rstrip("/") or "/", ("Not found", "<p>No such page.</p>"))
        status = 200 if path.rstrip("/") in ROUTES or path == "/" else 404
        page = PAGE.format(title=title, body=body, path=html.escape(self.path),
                           via=html.escape(self.headers.get("Via", "-")),
                           xff=html.escape(self.headers.get("X-Forwarded-For", "-"))).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        return page

    def do_GET(self):
        self.wfile.write(self._page())

    def do_HEAD(self):
        self._page()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self.wfile.write(self._page())

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Shop).serve_forever()
