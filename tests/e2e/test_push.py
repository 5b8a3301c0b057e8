"""X7 on the whole stack: the installable app (manifest, a service worker that caches the shell only) and web push.

Chromium cannot reach its push service here, so the sending side is tested against the local Web Push service of
portal_testkit.webpush (it checks the VAPID signature and decrypts the aes128gcm body), and the browser side up to
the subscription: the page registers the service worker, the preferences form works without JavaScript, and the
subscription JSON the page posts (PortalPush.save, the button's last step) is accepted. A staff reply then reaches
the subscribed contact's endpoint, and not a same-customer user who did not opt in, nor another customer's user.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from pathlib import Path

import httpx

from gateway.web.pwa import SW_FILE, shell
from gateway.web.render import STATIC_DIR
from portal_testkit.webpush import PushService
from tests.e2e.account_helpers import new_portal_user
from tests.e2e.helpers import BLUE, api, api_sign_in

CACHED_NOW = """async () => {
  const out = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      const response = await cache.match(request);
      const bytes = new Uint8Array(await response.arrayBuffer());
      out.push({ cache: name, url: request.url, text: new TextDecoder("utf-8", { fatal: false }).decode(bytes) });
    }
  }
  return out;
}"""


def test_the_service_worker_caches_the_shell_only(stack) -> None:  # noqa: ANN001
    user = new_portal_user(stack)
    with httpx.Client(base_url=stack.gateway_url, timeout=15) as c:
        sw = c.get("/sw.js")
        assert sw.status_code == 200 and sw.headers["content-type"].startswith("text/javascript")
        assert sw.headers["cache-control"] == "no-cache" and "Service-Worker-Allowed" not in sw.headers
        assert "__SHELL_VERSION__" not in sw.text and re.search(r'const VERSION = "[0-9a-f]{16}"', sw.text)
        listed = shell(sw.text)
        assert listed == shell(SW_FILE.read_text())
        # Files that are the same for everyone: the stylesheet, every one of our scripts, the icons, the offline page.
        own_scripts = {f"/static/{p.name}" for p in STATIC_DIR.glob("*.js")}
        assert {"/static/portal.css", "/offline", "/static/icons/icon-192.png"} | own_scripts <= set(listed)
        for path in listed:
            assert path == "/offline" or path.startswith("/static/"), path
            assert not path.startswith("/api/") and "?" not in path
            if path.startswith("/static/"):
                assert (STATIC_DIR / path.removeprefix("/static/")).is_file(), path
            assert c.get(path).status_code == 200, path

        manifest = c.get("/manifest.webmanifest")
        assert manifest.headers["content-type"].startswith("application/manifest+json")
        body = manifest.json()
        assert body["start_url"] == "/" and body["display"] == "standalone" and body["name"]
        assert {i["sizes"] for i in body["icons"]} == {"192x192", "512x512"}
        assert c.get(body["icons"][1]["src"]).headers["content-type"] == "image/png"

        # The offline page is rendered for nobody, even to a signed-in browser: what is cached names no one.
        token = api_sign_in(stack, user.login, user.password)
        offline = c.get("/offline", headers={"Cookie": f"portal_session={token}"})
        home = c.get("/", headers={"Cookie": f"portal_session={token}"})
        assert offline.status_code == 200 and 'action="/signout"' in home.text
        assert 'action="/signout"' not in offline.text and user.login not in offline.text
        # Every page links the manifest and registers the worker; the policy allows only our own scripts.
        assert 'rel="manifest" href="/manifest.webmanifest"' in home.text and "/static/pwa.js" in home.text
        assert "script-src" not in home.headers["content-security-policy"]
        assert "default-src 'self'" in home.headers["content-security-policy"]


async def _wait_for(predicate, limit: float = 30.0) -> None:  # noqa: ANN001
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_push_from_the_browser_to_a_local_push_service(stack, browser, tmp_path: Path) -> None:  # noqa: ANN001
    marker = f"PUSHMARK{secrets.token_hex(6)}"
    ann = new_portal_user(stack)  # the ticket's contact, will opt in
    ben = new_portal_user(stack)  # the same customer, subscribed but not opted in
    cy = new_portal_user(stack, customer_email=BLUE.email)  # another customer, subscribed and opted in
    ann_token = api_sign_in(stack, ann.login, ann.password)
    with api(stack, ann_token) as c:
        made = c.post("/api/v1/tickets", json={"subject": f"Printer {marker}", "description": f"Jammed {marker}"})
        assert made.status_code == 201, made.text
        ticket = made.json()

    async with PushService() as service:
        for user, opt_in in ((ben, False), (cy, True)):
            token = api_sign_in(stack, user.login, user.password)
            async with httpx.AsyncClient(base_url=stack.gateway_url, headers={"Authorization": f"Bearer {token}"}) as c:
                sub = await c.post(
                    "/api/v1/notifications/push/subscriptions",
                    json=service.subscribe(user.login),
                    headers={"Idempotency-Key": secrets.token_urlsafe(16)},
                )
                assert sub.status_code == 201, sub.text
                if opt_in:
                    all_on = {"ticket_replies": True, "estimates": True, "invoices": True, "remote_requests": True}
                    prefs = await c.put("/api/v1/notifications/push/preferences", json=all_on)
                    assert prefs.json() == all_on

        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        await context.grant_permissions(["notifications"], origin=stack.gateway_url)
        page = await context.new_page()
        try:
            await page.goto(stack.gateway_url + "/signin")
            await page.get_by_label("Email or username").fill(ann.login)
            await page.get_by_label("Password").fill(ann.password)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(stack.gateway_url + "/")
            for path in ("/", "/tickets", f"/tickets/{ticket['id']}"):
                await page.goto(stack.gateway_url + path)
            assert marker in await page.content()
            script = await page.evaluate("navigator.serviceWorker.ready.then((r) => r.active.scriptURL)")
            assert script == stack.gateway_url + "/sw.js"

            # The preferences form, as without JavaScript: everything off at first, then ticket replies on.
            await page.get_by_role("link", name="Notifications").click()
            await page.wait_for_url("**/account/notifications")
            assert not await page.get_by_label("Our replies on your tickets").is_checked()
            await page.get_by_label("Our replies on your tickets").check()
            await page.get_by_role("button", name="Save preferences").click()
            await page.locator("#push-saved").wait_for()
            assert await page.get_by_label("Our replies on your tickets").is_checked()
            assert not await page.get_by_label("New invoices").is_checked()

            # "Enable on this device": Chromium here has no push service to reach, so subscribe() fails and the
            # page says so; if it ever succeeds, the page says the device is on.
            await page.get_by_role("button", name="Enable on this device").click()
            status = page.locator("#push-status")
            await _wait_status(status)
            said = (await status.inner_text()).strip()
            assert said in (
                "Your browser could not reach its push service, so this device was not enabled. Try again later.",
                "Notifications are on for this device.",
            ), said
            await page.screenshot(path=str(tmp_path / "notifications-enable-1280.png"), full_page=True)

            # What the button posts once subscribed: the local push service's subscription instead of the browser's.
            saved = await page.evaluate("(s) => PortalPush.save(s)", service.subscribe("ann"))
            assert saved["id"]
            refused = await page.evaluate(
                "(s) => PortalPush.save(s).then(() => 'accepted', () => document.getElementById('push-status')"
                ".textContent)",
                {"endpoint": "https://10.1.2.3/push/x", "keys": service.subscribe("x")["keys"]},
            )
            assert refused == "The browser's push service is not one the portal can send to."
            await page.goto(stack.gateway_url + "/account/notifications")
            assert await page.locator("#push-devices li").count() >= 1
            await page.screenshot(path=str(tmp_path / "notifications-1280.png"), full_page=True)
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.screenshot(path=str(tmp_path / "notifications-390.png"), full_page=True)
            await page.goto(stack.gateway_url + "/lang/fr?next=/account/notifications")
            await page.screenshot(path=str(tmp_path / "notifications-fr-390.png"), full_page=True)
            await page.goto(stack.gateway_url + "/offline")
            await page.screenshot(path=str(tmp_path / "offline-fr-390.png"), full_page=True)

            # The caches hold the shell and nothing else: no page of Ann's, no ticket, no API answer.
            cached = await page.evaluate(CACHED_NOW)
            assert cached, "the service worker cached its shell"
            listed = set(shell(SW_FILE.read_text()))
            for entry in cached:
                path = entry["url"].removeprefix(stack.gateway_url)
                assert path in listed, path
                assert marker not in entry["text"] and ann.login not in entry["text"], path
            assert {"/offline", "/static/portal.css"} <= {e["url"].removeprefix(stack.gateway_url) for e in cached}
        finally:
            await context.close()

        # A staff reply reaches Ann's endpoint, decrypted and signed as web push requires, and nobody else's.
        with api(stack) as c:
            staff = c.post(
                "/api/v1/staff/sessions",
                json={"login": stack.config.staff_email, "password": stack.config.staff_password},
            ).json()["session_token"]
        async with httpx.AsyncClient(base_url=stack.gateway_url, headers={"Authorization": f"Bearer {staff}"}) as c:
            reply = await c.post(f"/api/v1/staff/tickets/{ticket['id']}/comments", json={"body": "Fixed, try it."})
            assert reply.status_code == 201, reply.text
        await _wait_for(lambda: service.messages("ann"))
        await asyncio.sleep(1.0)  # time for a wrong push to arrive too
        assert service.refused == []
        # Ann switched the portal to French above, and that is kept on her: her push is French too (SPEC H5).
        assert service.messages("ann") == [
            {
                "title": f"Nouvelle réponse sur le ticket n° {ticket['number']}",
                "body": f"Printer {marker}",
                "url": f"/tickets/{ticket['id']}",
            }
        ]
        assert service.messages(ben.login) == [] and service.messages(cy.login) == []
        assert json.dumps(service.messages("ann")).count("Fixed") == 0, "the reply's text is not in the push"


async def _wait_status(status) -> None:  # noqa: ANN001
    for _ in range(100):
        text = (await status.inner_text()).strip()
        if text and text != "Asking your browser…":
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the page said nothing after Enable on this device")
