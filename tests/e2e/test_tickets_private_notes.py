"""Issue 4: a private staff note, planted with a unique marker, never reaches the portal — not a page, not a JSON
answer, not the CSV, not the PDF, not an email — while the public reply next to it does. Another customer gets
404 for the ticket, its comments and its PDF."""

from __future__ import annotations

import io
import re
import time
import uuid

import grpc
import httpx
from pypdf import PdfReader

from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc
from tests.e2e.helpers import ACME, BLUE, api, api_sign_in, mails


def staff_token(stack) -> str:  # noqa: ANN001
    """A staff principal token from identity, as the staff API would get it."""
    with grpc.insecure_channel(stack.grpc_addr("identity")) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        request = identity_pb2.SignInRequest(
            login=stack.config.staff_email, password=stack.config.staff_password, audience=identity_pb2.AUDIENCE_STAFF
        )
        signed = stub.SignIn(request, timeout=10)
        return stub.ResolveSession(
            identity_pb2.ResolveSessionRequest(session_token=signed.session_token), timeout=10
        ).principal_token


def staff_comment(stack, ticket_id: str, body: str, *, private: bool) -> None:  # noqa: ANN001
    with grpc.insecure_channel(stack.grpc_addr("tickets")) as ch:
        tickets_pb2_grpc.TicketsServiceStub(ch).AddComment(
            tickets_pb2.AddCommentRequest(ticket_id=ticket_id, body=body, private=private, author_name="Tess Tech"),
            timeout=10,
            metadata=(("authorization", f"Bearer {staff_token(stack)}"),),
        )


def page_client(stack, token: str) -> httpx.Client:  # noqa: ANN001
    return httpx.Client(
        base_url=stack.gateway_url, headers={"Cookie": f"portal_session={token}"}, timeout=15, follow_redirects=False
    )


def pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


def test_private_note_never_reaches_the_portal(stack) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    marker = f"PRIVNOTE{uuid.uuid4().hex}"
    public = f"PUBLICREPLY{tag}"
    token = api_sign_in(stack, ACME.login, ACME.password)
    with api(stack, token) as c:
        r = c.post("/api/v1/tickets", json={"subject": f"Scanner offline {tag}", "description": "Since Monday."})
        assert r.status_code == 201, r.text
        ticket_id = r.json()["id"]

    staff_comment(stack, ticket_id, f"Customer owes us money {marker}", private=True)
    staff_comment(stack, ticket_id, public, private=False)
    with api(stack, token) as c:
        r = c.post(f"/api/v1/tickets/{ticket_id}/comments", json={"body": f"Thanks {tag}"})
        assert r.status_code == 201, r.text

    answers: dict[str, str] = {}
    with api(stack, token) as c:
        for path, params in (
            (f"/api/v1/tickets/{ticket_id}", {}),
            (f"/api/v1/tickets/{ticket_id}/comments", {}),
            ("/api/v1/tickets", {"q": tag}),
            ("/api/v1/tickets", {"q": marker}),
            ("/api/v1/home", {}),
        ):
            r = c.get(path, params=params)
            assert r.status_code == 200, (path, r.text)
            answers[f"api {path} {params}"] = r.text
        comments = c.get(f"/api/v1/tickets/{ticket_id}/comments").json()["items"]
        assert [x["body"] for x in comments] == [f"Thanks {tag}", public], "public comments, newest first"
        assert c.get("/api/v1/tickets", params={"q": marker}).json()["items"] == [], "no search by private text"
        pdf = c.get(f"/api/v1/tickets/{ticket_id}/pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.headers["content-disposition"].startswith("attachment;")
        answers["api pdf"] = pdf_text(pdf.content)
        assert public in answers["api pdf"]
    with page_client(stack, token) as c:
        for path in (f"/tickets/{ticket_id}", f"/tickets?q={tag}", f"/tickets?q={marker}", "/", "/tickets.csv"):
            r = c.get(path)
            assert r.status_code == 200, (path, r.text[:300])
            # The search page echoes what was typed (the box, the CSV link): that is the user's own text.
            answers[f"page {path}"] = r.text.replace(f'value="{marker}"', "").replace(f"q={marker}", "")
        assert public in answers[f"page /tickets/{ticket_id}"]
        assert "No tickets match." in answers[f"page /tickets?q={marker}"]
        assert f"Scanner offline {tag}" in answers["page /tickets.csv"]
        answers["page pdf"] = pdf_text(c.get(f"/tickets/{ticket_id}/pdf").content)

    with api(stack, token) as c:
        assert c.post(f"/api/v1/tickets/{ticket_id}/close").status_code == 200
        refused = c.post(f"/api/v1/tickets/{ticket_id}/comments", json={"body": "one more"})
        assert refused.status_code == 409 and "closed" in refused.json()["detail"]

    # The staff reply and the closing are mailed (T7); the private note never is.
    def mailed(kind: str) -> list[dict]:
        return [m for m in mails(stack) if tag in m["subject"] and kind in m["subject"]]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (mailed("New reply") and mailed("closed")):
        time.sleep(0.25)
    assert len(mailed("New reply")) == 1 and public in mailed("New reply")[0]["text"]
    assert len(mailed("closed")) == 1
    for m in mails(stack):
        answers[f"mail {m['subject']}"] = str(m)

    leaked = [where for where, text in answers.items() if marker in text]
    assert not leaked, f"the private note leaked into: {leaked}"


def test_other_customer_gets_404_for_ticket_comments_and_pdf(stack) -> None:  # noqa: ANN001
    token = api_sign_in(stack, ACME.login, ACME.password)
    with api(stack, token) as c:
        ticket_id = c.post("/api/v1/tickets", json={"subject": "Acme only", "description": "Private."}).json()["id"]
    blue = api_sign_in(stack, BLUE.login, BLUE.password)
    with api(stack, blue) as c:
        for method, path, body in (
            ("GET", f"/api/v1/tickets/{ticket_id}/comments", None),
            ("POST", f"/api/v1/tickets/{ticket_id}/comments", {"body": "hi"}),
            ("PATCH", f"/api/v1/tickets/{ticket_id}", {"subject": "mine"}),
            ("POST", f"/api/v1/tickets/{ticket_id}/close", None),
            ("GET", f"/api/v1/tickets/{ticket_id}/pdf", None),
        ):
            r = c.request(method, path, json=body)
            assert r.status_code == 404, (method, path, r.status_code, r.text)
    with page_client(stack, blue) as c:
        assert c.get(f"/tickets/{ticket_id}").status_code == 404
        assert c.get(f"/tickets/{ticket_id}/pdf").status_code == 404
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/").text).group(1)
        assert c.post(f"/tickets/{ticket_id}/close", data={"csrf_token": csrf}).status_code == 404
    with api(stack, token) as c:
        assert c.get(f"/api/v1/tickets/{ticket_id}").json()["status"] == "New", "untouched by the other customer"
