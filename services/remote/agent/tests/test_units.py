"""The agent's pure parts, without a process: the backoff's pauses and the command checks' edges."""

from __future__ import annotations

import random
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.timestamp_pb2 import Timestamp

from portal.remote.v1 import agent_pb2
from portal_agent.agent import Backoff
from portal_agent.verify import COMMAND_PREFIX, CommandVerifier, Refusal


def test_backoff_doubles_from_half_a_second_to_thirty_with_jitter_and_starts_over_on_reset():
    backoff = Backoff(random.Random(7))
    pauses = [backoff.next() for _ in range(10)]
    for pause, nominal in zip(pauses, [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30], strict=True):
        assert nominal * 0.8 <= pause <= nominal * 1.2
    assert len({round(p / n, 6) for p, n in zip(pauses[6:], [30] * 4, strict=True)}) > 1  # jittered, not fixed
    backoff.reset()
    assert 0.4 <= backoff.next() <= 0.6


def _stamp(t: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(t * 1e9))
    return ts


@pytest.mark.parametrize(
    ("issued", "expires", "refusal"),
    [
        (-10, 50, None),
        (29, 60, None),  # the broker's clock a little ahead: allowed
        (31, 60, "expired"),  # issued too far ahead
        (-60, -0.001, "expired"),
        (-60, 0, "expired"),  # expires_at is the first instant it is no longer valid
    ],
)
def test_validity_window(issued, expires, refusal):
    key, now = Ed25519PrivateKey.generate(), 1_800_000_000.0
    verifier = CommandVerifier(key.public_key(), "a1", clock=lambda: now)
    command = agent_pb2.Command(
        command_id="c1",
        agent_id="a1",
        issued_at=_stamp(now + issued),
        expires_at=_stamp(now + expires),
        cancel_run=agent_pb2.CancelRun(run_id="r"),
    )
    body = command.SerializeToString()
    signed = agent_pb2.SignedCommand(body=body, signature=key.sign(COMMAND_PREFIX + body))
    if refusal is None:
        assert verifier.check(signed).command_id == "c1"
    else:
        with pytest.raises(Refusal) as raised:
            verifier.check(signed)
        assert (raised.value.command_id, raised.value.reason) == ("c1", refusal)


def test_a_seen_id_is_remembered_until_its_command_expires_then_forgotten():
    key, clock = Ed25519PrivateKey.generate(), [time.time()]
    verifier = CommandVerifier(key.public_key(), "a1", clock=lambda: clock[0])

    def signed(cid: str, expires_in: float) -> agent_pb2.SignedCommand:
        body = agent_pb2.Command(
            command_id=cid,
            agent_id="a1",
            issued_at=_stamp(clock[0]),
            expires_at=_stamp(clock[0] + expires_in),
            cancel_run=agent_pb2.CancelRun(run_id="r"),
        ).SerializeToString()
        return agent_pb2.SignedCommand(body=body, signature=key.sign(COMMAND_PREFIX + body))

    verifier.check(signed("old", 10))
    with pytest.raises(Refusal, match="replayed"):
        verifier.check(signed("old", 10))
    clock[0] += 11
    verifier.check(signed("new", 10))
    assert set(verifier._seen) == {"new"}  # the expired id was dropped: memory stays bounded
