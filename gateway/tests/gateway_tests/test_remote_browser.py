"""The remote pages in Chromium over the fake backends: a portal script's live output (EventSource), the xterm.js
terminal over a real WebSocket (uvicorn), and every remote page readable at 390 and 1280 px without horizontal
overflow, in English and French; screenshots as test_browser.py takes them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import uvicorn

from gateway.main import create_app
from gateway_tests.conftest import FakeBackends, free_port, make_settings
from gateway_tests.test_browser import CHROMIUM, CHROMIUM_ARGS, chromium, shots  # noqa: F401 - fixtures

WIDTHS = (390, 1280)


async def _no_overflow(page, name: str, shots_dir: Path) -> None:  # noqa: ANN001
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        wide = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert wide <= 0, f"{name} overflows by {wide}px at {width}px"
        await page.screenshot(path=str(shots_dir / f"{name}-{width}.png"), full_page=True)


async def test_remote_pages_in_chromium(backends: FakeBackends, shots: Path) -> None:  # noqa: F811
    from playwright.async_api import async_playwright

    port = free_port()
    app = create_app(make_settings(backends.address))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
            await page.goto(f"{base}/signin")
            await page.get_by_label("Email or username").fill("alice@acme.test")
            await page.get_by_label("Password").fill("correct horse")
            await page.get_by_role("button", name="Sign in").click()
            await page.get_by_role("heading", name="Your portal").wait_for()
            await page.locator("#remote-requests-notice").wait_for()

            await page.goto(f"{base}/assets")
            await _no_overflow(page, "remote-assets", shots)
            await page.goto(f"{base}/assets/ast-1")
            assert await page.locator("#agent-status").get_attribute("data-agent-status") == "online"
            await _no_overflow(page, "remote-asset", shots)

            # A portal script: confirm, run, and the output arrives through EventSource.
            await page.locator("[data-script-id=scr-1] a").click()
            await page.locator("#confirmation").wait_for()
            await _no_overflow(page, "remote-confirm", shots)
            await page.locator("#run-button").click()
            await page.locator("#run-status[data-status=succeeded]").wait_for()
            assert await page.locator("#run-output").inner_text() == "line one\n<b>two</b>\n"
            assert await page.locator("#run-exit-code").inner_text() == "0"
            # The run asked for a new ticket: said while it ran, linked once it finished.
            href = await page.locator("#run-ticket").get_attribute("href")
            assert href.startswith("/tickets/tkt-for-run-") and not await page.locator("#run-ticket-pending").count()
            await _no_overflow(page, "remote-run", shots)

            await page.goto(f"{base}/remote-requests")
            await _no_overflow(page, "remote-requests", shots)

            # The terminal: xterm.js over the page's WebSocket, keystrokes to the device and its output back.
            await page.goto(f"{base}/assets/ast-1")
            await page.locator("#remote-action").click()
            await page.locator("#terminal[data-state=open]").wait_for()
            await page.locator(".xterm-rows", has_text="ready").wait_for()
            await page.locator("#terminal").click()
            await page.keyboard.type("echo hi")
            await page.locator(".xterm-rows", has_text="ECHO HI").wait_for()
            await _no_overflow(page, "remote-terminal", shots)

            await page.goto(f"{base}/lang/fr?next=/assets/ast-1")
            await page.locator("#remote-heading", has_text="Accès à distance").wait_for()
            await _no_overflow(page, "remote-asset-fr", shots)

            await page.goto(f"{base}/staff")
            await page.get_by_label("E-mail ou identifiant").fill("tech@northwind.test")
            await page.get_by_label("Mot de passe").fill("correct horse")
            await page.get_by_role("button", name="Se connecter").click()
            await page.get_by_role("heading", name="Console du personnel").wait_for()
            await page.goto(f"{base}/staff/assets/ast-1")
            await page.locator("#agent-agt-1").wait_for()
            await _no_overflow(page, "staff-remote-asset-fr", shots)
            await page.goto(f"{base}/lang/en?next=/staff/scripts/new")
            await page.locator("#script-form").wait_for()
            await _no_overflow(page, "staff-script-form", shots)
            await browser.close()
    finally:
        server.should_exit = True
        await serving
