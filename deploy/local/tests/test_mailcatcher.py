import json
import smtplib
import urllib.request
from email.message import EmailMessage

from portal_local.mailcatcher import MailCatcher


def _get(url: str, method: str = "GET") -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, method=method)  # noqa: S310 (a fixed http:// URL)
    with opener.open(request, timeout=5) as resp:
        return resp.status, resp.read().decode()


def _send(port: int) -> None:
    msg = EmailMessage()
    msg["From"] = "portal@example.test"
    msg["To"] = "alice@acme.test"
    msg["Subject"] = "Réinitialisation <du> mot de passe"
    msg.set_content("Open https://portal.test/reset?t=abc to choose a new password.\nÀ bientôt")
    msg.add_alternative("<p>Open <a href='https://portal.test/reset?t=abc'>this link</a></p>", subtype="html")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        smtp.send_message(msg, to_addrs=["alice@acme.test", "cc@acme.test"])


def test_caught_mail_is_listed_in_json_and_html() -> None:
    with MailCatcher() as catcher:
        _send(catcher.smtp_port)
        caught = catcher.wait_for(to="alice@acme.test", timeout=5)
        assert caught.subject == "Réinitialisation <du> mot de passe"
        assert caught.mail_from == "portal@example.test"
        assert caught.rcpt_to == ["alice@acme.test", "cc@acme.test"]
        assert "reset?t=abc to choose" in caught.text and "À bientôt" in caught.text
        assert "<a href=" in caught.html

        status, body = _get(f"{catcher.http_url}/api/messages")
        assert status == 200
        [item] = json.loads(body)
        assert set(item) >= {"id", "received_at", "mail_from", "rcpt_to", "subject", "text"}
        assert item["subject"] == caught.subject and item["rcpt_to"] == caught.rcpt_to

        status, page = _get(f"{catcher.http_url}/")
        assert status == 200
        assert "Réinitialisation &lt;du&gt; mot de passe" in page
        assert "<details>" in page and "alice@acme.test" in page

        assert _get(f"{catcher.http_url}/api/messages", method="DELETE")[0] == 204
        assert json.loads(_get(f"{catcher.http_url}/api/messages")[1]) == []
        assert catcher.messages == []


def test_newest_first_and_restart_on_same_ports() -> None:
    catcher = MailCatcher().start()
    try:
        for subject in ("first", "second"):
            with smtplib.SMTP("127.0.0.1", catcher.smtp_port, timeout=5) as smtp:
                smtp.sendmail("a@x.test", ["b@x.test"], f"Subject: {subject}\r\n\r\nbody".encode())
        catcher.wait_for(subject_contains="second", timeout=5)
        assert [m["subject"] for m in json.loads(_get(f"{catcher.http_url}/api/messages")[1])] == ["second", "first"]
        catcher.stop()
        catcher.start()
        assert _get(f"{catcher.http_url}/api/messages")[0] == 200
    finally:
        catcher.stop()
