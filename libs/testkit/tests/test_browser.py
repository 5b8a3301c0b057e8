import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.async_api import Page

PAGE = b"<!doctype html><html lang=en><title>testkit</title><h1 id=greeting>Hello from a tiny server</h1>"


@pytest.fixture
def tiny_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


async def test_page_opens_a_local_page_and_takes_a_screenshot(page: Page, tiny_server: str) -> None:
    await page.goto(tiny_server)
    assert await page.title() == "testkit"
    assert await page.locator("#greeting").inner_text() == "Hello from a tiny server"
    png = await page.screenshot()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
