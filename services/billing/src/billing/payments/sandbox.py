"""The sandbox card processor: a stand-alone HTTP service that behaves like a card processor's test mode.

It is the only place a card number is ever read. The portal's "add a card" form posts the number straight
here (POST /v1/tokens with a return_url); the processor answers with a redirect carrying only a token, which
the gateway hands to billing. Billing charges the token (POST /v1/charges with an Idempotency-Key header): the
same key returns the same charge, whichever billing replica asks and however often.

Test numbers: 4242424242424242 (visa) and 5555555555554444 (mastercard) succeed; 4000000000000002 is declined;
4000000000009995 is declined for insufficient funds; any other number is refused at tokenisation.
ACH test accounts: account 000123456789 with routing number 110000000 ("Sandbox Test Bank") succeeds; the
portal's bank form posts `account_number` and `routing_number` (the number alone, as `number`, also works).
POST /v1/sandbox/behaviour {"mode": "fail" | "timeout" | "stall" | "normal", "times": n, "delay": seconds} makes
the next n charges fail with a 500 or answer only after `delay` seconds (for both the charge is made first, as a
real processor that times out may have charged), or ("stall") make the charge itself only after `delay` seconds,
even when the caller has gone — a charge that lands after billing gave up on it. GET /v1/charges lists charges,
for tests and the benchmark;
GET /v1/charges/by-key/{key} finds the charge an idempotency key made (how billing's reconciler learns the
outcome of a charge whose answer it lost); POST /v1/refunds (charge, amount, Idempotency-Key) refunds once per key.

Run it with `python -m billing.payments.sandbox --port 8089 [--state var/sandbox.db]`; several billing replicas
share one. With `--state` its tokens, charges and refunds survive a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sqlite3
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CARDS = {
    "4242424242424242": ("visa", ""),
    "5555555555554444": ("mastercard", ""),
    "4000000000000002": ("visa", "card_declined"),
    "4000000000009995": ("visa", "insufficient_funds"),
}
ACH_ACCOUNTS = {"000123456789": ("ach", "")}
BANKS = {"110000000": "Sandbox Test Bank"}


class SandboxState:
    """Tokens, charges and refunds in a small SQLite database of the sandbox's own: a file (`--state`) keeps
    stored cards and charges across restarts of `make run`; without one they live in memory (tests).

    The sandbox serves one event loop and its statements are tiny, so the stdlib's sqlite3 is used inline."""

    def __init__(self, path: str = ":memory:") -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, body TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS charges (
                idempotency_key TEXT PRIMARY KEY, id TEXT UNIQUE NOT NULL, body TEXT NOT NULL, seq INTEGER);
            CREATE TABLE IF NOT EXISTS refunds (
                idempotency_key TEXT PRIMARY KEY, charge_id TEXT NOT NULL, body TEXT NOT NULL);
            """
        )
        self.mode = "normal"
        self.times = 0
        self.delay = 0.0
        self.lock = asyncio.Lock()
        self.late: set[asyncio.Task] = set()  # charges still to be made in "stall" mode

    def _put_token(self, token: dict) -> dict:
        self._db.execute("INSERT INTO tokens (id, body) VALUES (?, ?)", (token["id"], json.dumps(token)))
        return token

    def token(self, token_id: str) -> dict | None:
        row = self._db.execute("SELECT body FROM tokens WHERE id = ?", (token_id,)).fetchone()
        return json.loads(row[0]) if row else None

    @property
    def charges(self) -> dict[str, dict]:
        """Every charge by its idempotency key, oldest first."""
        rows = self._db.execute("SELECT idempotency_key, body FROM charges ORDER BY seq").fetchall()
        return {key: json.loads(body) for key, body in rows}

    def charge_by_key(self, key: str) -> dict | None:
        row = self._db.execute("SELECT body FROM charges WHERE idempotency_key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def tokenize(self, number: str, exp_month: int, exp_year: int) -> dict:
        digits = "".join(ch for ch in number if ch.isdigit())
        known = CARDS.get(digits) or ACH_ACCOUNTS.get(digits)
        if known is None:
            raise ValueError("this sandbox accepts only its test numbers")
        brand, decline = known
        kind = "ach" if brand == "ach" else "card"
        if kind == "card" and not (1 <= exp_month <= 12 and exp_year >= 2000):
            raise ValueError("the expiry date is not valid")
        return self._put_token(
            {
                "id": "tok_" + secrets.token_hex(12),
                "kind": kind,
                "brand": brand,
                "last4": digits[-4:],
                "exp_month": exp_month if kind == "card" else 0,
                "exp_year": exp_year if kind == "card" else 0,
                "_decline": decline,
            }
        )

    def tokenize_bank(self, account_number: str, routing_number: str) -> dict:
        account = "".join(ch for ch in account_number if ch.isdigit())
        bank = BANKS.get("".join(ch for ch in routing_number if ch.isdigit()))
        if bank is None:
            raise ValueError("this sandbox accepts only its test routing number")
        if account not in ACH_ACCOUNTS:
            raise ValueError("this sandbox accepts only its test account numbers")
        return self._put_token(
            {
                "id": "tok_" + secrets.token_hex(12),
                "kind": "ach",
                "brand": bank,
                "last4": account[-4:],
                "exp_month": 0,
                "exp_year": 0,
                "_decline": ACH_ACCOUNTS[account][1],
            }
        )

    def public(self, token: dict) -> dict:
        return {k: v for k, v in token.items() if not k.startswith("_")}

    def charge(self, key: str, source: str, amount: int, currency: str) -> tuple[dict, bool]:
        """The charge for this key, made once; True when it already existed."""
        existing = self.charge_by_key(key)
        if existing is not None:
            return existing, True
        token = self.token(source)
        assert token is not None
        decline = token["_decline"]
        charge = {
            "id": "ch_" + secrets.token_hex(12),
            "status": "failed" if decline else "succeeded",
            "failure_code": decline,
            "amount": amount,
            "amount_refunded": 0,
            "currency": currency,
            "source": source,
            "idempotency_key": key,
        }
        self._db.execute(
            "INSERT INTO charges (idempotency_key, id, body, seq) VALUES (?, ?, ?, "
            "(SELECT COALESCE(MAX(seq), 0) + 1 FROM charges))",
            (key, charge["id"], json.dumps(charge)),
        )
        return charge, False

    def refund(self, key: str, charge_id: str, amount: int) -> dict:
        """The refund for this key, made once; ValueError when the charge cannot give back that much."""
        row = self._db.execute("SELECT body FROM refunds WHERE idempotency_key = ?", (key,)).fetchone()
        if row is not None:
            return json.loads(row[0])
        found = self._db.execute("SELECT idempotency_key, body FROM charges WHERE id = ?", (charge_id,)).fetchone()
        if found is None:
            raise LookupError("no such charge")
        charge = json.loads(found[1])
        if charge["status"] != "succeeded":
            raise ValueError("only a succeeded charge can be refunded")
        if amount <= 0 or amount > charge["amount"] - charge["amount_refunded"]:
            raise ValueError("the refund is more than what is left of the charge")
        charge["amount_refunded"] += amount
        refund = {
            "id": "re_" + secrets.token_hex(12),
            "charge": charge_id,
            "amount": amount,
            "currency": charge["currency"],
        }
        self._db.execute("BEGIN")
        self._db.execute("UPDATE charges SET body = ? WHERE id = ?", (json.dumps(charge), charge_id))
        self._db.execute(
            "INSERT INTO refunds (idempotency_key, charge_id, body) VALUES (?, ?, ?)",
            (key, charge_id, json.dumps(refund)),
        )
        self._db.execute("COMMIT")
        return refund


def create_app(state: SandboxState | None = None) -> Starlette:
    state = state or SandboxState()

    async def tokens(request: Request) -> Response:
        form = await request.form()
        return_url = str(form.get("return_url", ""))
        try:
            if "account_number" in form:
                token = state.tokenize_bank(str(form["account_number"]), str(form.get("routing_number", "")))
            else:
                token = state.tokenize(
                    str(form.get("number", "")), int(form.get("exp_month") or 0), int(form.get("exp_year") or 0)
                )
        except ValueError as exc:
            if return_url:
                return RedirectResponse(_with_query(return_url, {"error": str(exc)}), status_code=303)
            return JSONResponse({"error": {"message": str(exc)}}, status_code=402)
        if return_url:
            return RedirectResponse(_with_query(return_url, {"token": token["id"]}), status_code=303)
        return JSONResponse(state.public(token))

    async def get_token(request: Request) -> Response:
        token = state.token(request.path_params["token"])
        if token is None:
            return JSONResponse({"error": {"message": "no such token"}}, status_code=404)
        return JSONResponse(state.public(token))

    async def charges(request: Request) -> Response:
        key = request.headers.get("idempotency-key", "")
        form = await request.form()
        source = str(form.get("source", ""))
        if not key:
            return JSONResponse({"error": {"message": "Idempotency-Key is required"}}, status_code=400)
        if state.token(source) is None:
            return JSONResponse({"error": {"message": "no such token"}}, status_code=404)
        async with state.lock:
            stall = state.mode == "stall" and state.times > 0 and state.charge_by_key(key) is None
            if stall:
                state.times -= 1
        if stall:
            # The charge is made late, in a task of its own, whether or not anyone still waits for the answer:
            # what a processor that was slow to get to a request does after its client gave up or died.
            async def late() -> None:
                await asyncio.sleep(state.delay)
                async with state.lock:
                    state.charge(key, source, int(form.get("amount", 0)), str(form.get("currency", "")))

            task = asyncio.create_task(late())
            state.late.add(task)
            task.add_done_callback(state.late.discard)
            await asyncio.shield(task)
            return JSONResponse(state.charge_by_key(key))
        async with state.lock:
            charge, _ = state.charge(key, source, int(form.get("amount", 0)), str(form.get("currency", "")))
            mode = state.mode if state.times > 0 else "normal"
            if state.times > 0:
                state.times -= 1
        if mode == "fail":
            return JSONResponse({"error": {"message": "sandbox told to fail"}}, status_code=500)
        if mode == "timeout":
            await asyncio.sleep(state.delay)
        return JSONResponse(charge)

    async def list_charges(request: Request) -> Response:
        return JSONResponse({"data": list(state.charges.values())})

    async def charge_by_key(request: Request) -> Response:
        charge = state.charge_by_key(request.path_params["key"])
        if charge is None:
            return JSONResponse({"error": {"message": "no charge with this idempotency key"}}, status_code=404)
        return JSONResponse(charge)

    async def refunds(request: Request) -> Response:
        key = request.headers.get("idempotency-key", "")
        form = await request.form()
        if not key:
            return JSONResponse({"error": {"message": "Idempotency-Key is required"}}, status_code=400)
        try:
            amount = int(form.get("amount", 0))
        except ValueError:
            return JSONResponse({"error": {"message": "amount must be an integer"}}, status_code=400)
        async with state.lock:
            try:
                refund = state.refund(key, str(form.get("charge", "")), amount)
            except LookupError as exc:
                return JSONResponse({"error": {"message": str(exc)}}, status_code=404)
            except ValueError as exc:
                return JSONResponse({"error": {"message": str(exc)}}, status_code=400)
        return JSONResponse(refund)

    async def behaviour(request: Request) -> Response:
        body = await request.json()
        state.mode = body.get("mode", "normal")
        state.times = int(body.get("times", 1))
        state.delay = float(body.get("delay", 0))
        return JSONResponse({"mode": state.mode, "times": state.times})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/tokens", tokens, methods=["POST"]),
            Route("/v1/tokens/{token}", get_token, methods=["GET"]),
            Route("/v1/charges", charges, methods=["POST"]),
            Route("/v1/charges", list_charges, methods=["GET"]),
            Route("/v1/charges/by-key/{key:path}", charge_by_key, methods=["GET"]),
            Route("/v1/refunds", refunds, methods=["POST"]),
            Route("/v1/sandbox/behaviour", behaviour, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


def _with_query(url: str, params: dict[str, str]) -> str:
    sep = "&" if urlsplit(url).query else "?"
    return f"{url}{sep}{urlencode(params)}"


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="The sandbox card processor")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--state", default=":memory:", help="the SQLite file keeping tokens and charges")
    args = parser.parse_args(argv)
    # No access log: nothing about a request (even its path) needs to be kept by a test processor.
    uvicorn.run(
        create_app(SandboxState(args.state)), host=args.host, port=args.port, access_log=False, log_level="warning"
    )


if __name__ == "__main__":
    main()
