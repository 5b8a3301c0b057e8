import socket
from pathlib import Path

import pytest

from portal_local.ports import (
    PortInUseError,
    PortWant,
    check_ports_free,
    distinct_free_ports,
    ephemeral_range,
    free_port,
    port_is_free,
)
from portal_local.stack import Stack


@pytest.fixture
def busy_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_busy_port_is_reported_with_owner_and_how_to_change(busy_port: int) -> None:
    assert not port_is_free(busy_port)
    with pytest.raises(PortInUseError) as err:
        check_ports_free(
            [
                PortWant(free_port(), "NATS client"),
                PortWant(busy_port, "gateway HTTP", "GATEWAY_HTTP_PORT", "--gateway-port"),
            ]
        )
    text = str(err.value)
    assert f"port {busy_port} on 127.0.0.1 is already in use" in text
    assert "gateway HTTP wants it" in text and "--gateway-port" in text and "$GATEWAY_HTTP_PORT" in text
    assert "NATS" not in text


def test_stack_refuses_to_start_anything_on_a_busy_port(busy_port: int, tmp_path: Path) -> None:
    stack = Stack(var_dir=tmp_path, free_ports=True, ports={"smtp": busy_port}, processes=["nats", "mailcatcher"])
    with pytest.raises(PortInUseError, match=rf"port {busy_port} .*mail catcher SMTP.*--smtp-port.*PORTAL_SMTP_PORT"):
        stack.start()
    assert stack.processes == {}
    assert not (tmp_path / "logs").exists()


def test_same_port_twice_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="configured for both"):
        check_ports_free([PortWant(4222, "a"), PortWant(4222, "b")])


def test_distinct_free_ports_never_repeat_and_are_free() -> None:
    # Chosen one at a time, free ports may repeat (a whole-suite run configured two slots on one port);
    # chosen together, they cannot.
    for _ in range(20):
        ports = distinct_free_ports(12)
        assert len(set(ports)) == 12
        assert all(port_is_free(p) for p in ports)


def test_free_ports_are_chosen_outside_the_range_of_outgoing_connections() -> None:
    # A port inside it may be taken by an outgoing connection before the server binds it (a stack's services bind
    # theirs after their migrations): a benchmark's stack once failed to start with "Address already in use".
    lo, hi = ephemeral_range()
    assert lo <= hi
    ports = [free_port() for _ in range(50)] + distinct_free_ports(50)
    assert all(not lo <= p <= hi and 10000 <= p <= 65535 for p in ports), [p for p in ports if lo <= p <= hi]
    assert len(set(ports)) > 10  # chosen at random, not one port over and over


def test_a_port_something_listens_on_is_never_chosen(busy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import portal_local.ports as ports

    monkeypatch.setattr(ports, "_candidates", lambda: range(busy_port, busy_port + 1))
    # The only candidate is taken: the OS chooses instead, and never the busy port.
    assert all(p != busy_port for p in ports.distinct_free_ports(3))
