"""localstripe (a stateful emulator of Stripe's API, from PyPI) as a real process on a loopback port, for the
Stripe adapter's tests: `LocalStripe().start()`, `.url`, `.api_key`, `.register_webhook(url, secret)`.

`python -m portal_testkit.localstripe --port N` is the process. It serves localstripe's own aiohttp app with
three differences, all test plumbing and none of Stripe's behaviour invented:
- it listens on 127.0.0.1 only (localstripe's own `localstripe` command binds every interface);
- it keeps its state in memory (localstripe writes /tmp/localstripe.pickle after every POST and reads it at start,
  which would mix the state of parallel test runs);
- it honours the `Idempotency-Key` header as Stripe documents it (a repeated key gets the first answer, a
  concurrent repeat waits for it), which localstripe ignores; and it records the keys it saw
  (`GET /_config/portal-idempotency-keys`) so a test can check that the adapter sends them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

from portal_local.ports import free_port
from portal_local.procs import ManagedProcess

API_KEY = "sk_test_portal_localstripe"  # noqa: S105 - the emulator takes any sk_test_ key


class LocalStripe:
    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = API_KEY
        self._proc = ManagedProcess(
            "localstripe",
            [sys.executable, "-m", "portal_testkit.localstripe", "--port", str(self.port)],
            log_path=log_path,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def start(self, timeout: float = 30.0) -> LocalStripe:
        self._proc.start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._get("/_config/portal-idempotency-keys")
                return self
            except OSError:
                if not self._proc.running or time.monotonic() > deadline:
                    tail = self._proc.log_tail()
                    self._proc.stop()
                    raise RuntimeError(f"localstripe did not start:\n{tail}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self._proc.stop()

    def _get(self, path: str) -> object:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url + path, timeout=5) as resp:
            return json.loads(resp.read() or b"null")

    def idempotency_keys(self) -> list[str]:
        """Every Idempotency-Key the emulator was sent, in order (repeats included)."""
        return list(self._get("/_config/portal-idempotency-keys"))  # type: ignore[arg-type]

    def register_webhook(self, name: str, url: str, secret: str, events: list[str] | None = None) -> None:
        """localstripe posts its events to `url`, signed with `secret` as Stripe signs them."""
        body = {"url": url, "secret": secret, **({"events": events} if events else {})}
        req = urllib.request.Request(  # noqa: S310 - a loopback http URL of our own
            f"{self.url}/_config/webhooks/{name}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=5) as resp:
            assert resp.status == 200


def serve(port: int) -> None:
    # Imported here: only the emulator's process needs them (localstripe builds its app at import).
    from aiohttp import web
    from localstripe import resources, server

    resources.store.dump_to_disk = lambda: None  # type: ignore[method-assign]
    seen: list[str] = []
    answers: dict[tuple[str, str], asyncio.Future[tuple[int, bytes, str]]] = {}

    @web.middleware
    async def idempotency(request: web.Request, handler):  # noqa: ANN001, ANN202
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        seen.append(key)
        slot = (request.path, key)
        if slot in answers:
            status, body, content_type = await asyncio.shield(answers[slot])
            return web.Response(
                status=status, body=body, content_type=content_type, headers={"Idempotent-Replayed": "true"}
            )
        answers[slot] = asyncio.get_running_loop().create_future()
        try:
            response = await handler(request)
        except BaseException as exc:
            answers.pop(slot).set_exception(exc)
            raise
        body = response.body if isinstance(response.body, bytes) else b""
        answers[slot].set_result((response.status, body, response.content_type))
        return response

    async def keys(request: web.Request) -> web.Response:
        return web.json_response(seen)

    server.app.middlewares.insert(0, idempotency)
    server.app.router.add_get("/_config/portal-idempotency-keys", keys)
    web.run_app(server.app, host="127.0.0.1", port=port, print=None, access_log=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args(argv).port)


if __name__ == "__main__":
    main()
