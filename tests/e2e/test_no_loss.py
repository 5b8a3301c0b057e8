"""Issue 2: nats-server stops while tickets are being created and starts again; every ticket's
confirmation email then arrives exactly once (outbox relay + Nats-Msg-Id + inbox + mail outbox)."""

import threading
import time
import uuid
from collections import Counter

from tests.e2e.helpers import ACME, api, api_sign_in, mails, wait_for_mails

TICKETS = 30


def test_nats_outage_loses_and_repeats_nothing(stack):
    token = api_sign_in(stack, ACME.login, ACME.password)
    run = uuid.uuid4().hex[:8]
    subjects = [f"outage {run} #{i:02d}" for i in range(TICKETS)]
    created: list[str] = []
    errors: list[str] = []

    def create_all() -> None:
        with api(stack, token) as c:
            for s in subjects:
                r = c.post("/api/v1/tickets", json={"subject": s, "description": "during an outage"})
                (created if r.status_code == 201 else errors).append(s if r.status_code == 201 else r.text)
                time.sleep(0.1)

    writer = threading.Thread(target=create_all)
    writer.start()
    time.sleep(0.8)  # some tickets before the outage, most during it
    stack.nats.stop()
    try:
        time.sleep(2.5)
    finally:
        stack.nats.start()
    writer.join(timeout=120)

    assert not errors, f"creating tickets does not depend on NATS: {errors[:3]}"
    assert len(created) == TICKETS
    arrived = wait_for_mails(stack, lambda m: f"outage {run}" in m["subject"], count=TICKETS, limit=120)
    assert len(arrived) == TICKETS, f"{len(arrived)} of {TICKETS} emails arrived"
    time.sleep(3)  # any duplicate would arrive within the redelivery window
    per_subject = Counter(
        s for m in mails(stack) if f"outage {run}" in m["subject"] for s in subjects if m["subject"].endswith(s)
    )
    assert set(per_subject) == set(subjects)
    assert set(per_subject.values()) == {1}, per_subject.most_common(3)
