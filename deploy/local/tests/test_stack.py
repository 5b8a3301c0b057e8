"""The runner with the parts that exist independently of the services: NATS and the mail catcher."""

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nats
import psutil
import pytest

from portal_local.ports import free_port, port_is_free
from portal_local.stack import Stack, StackError


def _messages(url: str) -> list[dict]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{url}/api/messages", timeout=5) as resp:
        return json.loads(resp.read())


def test_stack_starts_logs_and_stops_nats_and_mailcatcher(tmp_path: Path) -> None:
    with Stack(var_dir=tmp_path, free_ports=True, processes=["nats", "mailcatcher"]) as stack:
        pids = [p.pid for p in stack.processes.values()]
        assert stack.nats is not None and stack.nats.is_ready()
        with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=5) as smtp:
            smtp.sendmail("portal@example.test", ["bob@blueharbor.test"], b"Subject: Invite\r\n\r\nWelcome")
        deadline = time.monotonic() + 5
        while not (msgs := _messages(stack.mail_url)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert msgs[0]["subject"] == "Invite" and msgs[0]["rcpt_to"] == ["bob@blueharbor.test"]
        ports = (stack.ports["nats"], stack.ports["smtp"], stack.ports["mail_http"])

    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    assert all(port_is_free(p) for p in ports)
    assert (tmp_path / "logs" / "nats.log").stat().st_size > 0
    assert "mail catcher: SMTP" in (tmp_path / "logs" / "mailcatcher.log").read_text()
    assert (tmp_path / "keys" / "principal.pem").exists()
    assert (tmp_path / "nats" / "jetstream").is_dir()


def test_services_get_the_contract_environment(tmp_path: Path) -> None:
    stack = Stack(var_dir=tmp_path, port_offset=1000, env={"TICKETS_LOG_LEVEL": "DEBUG"})
    from portal_local.keys import ensure_keys

    stack.keys = ensure_keys(tmp_path)
    identity = stack.env_for("identity")
    assert identity["IDENTITY_GRPC_PORT"] == "51051" and identity["IDENTITY_METRICS_PORT"] == "10101"
    assert identity["IDENTITY_DATABASE_URL"] == f"sqlite+aiosqlite:///{tmp_path.resolve()}/identity.db"
    assert identity["IDENTITY_SIGNING_KEY_FILE"].endswith("keys/principal.pem")
    assert identity["IDENTITY_SMTP_PORT"] == "2025" and identity["IDENTITY_PORTAL_URL"] == "http://127.0.0.1:9000"
    assert "IDENTITY_PRINCIPAL_PUBLIC_KEY_FILE" not in identity
    assert identity["IDENTITY_TICKETS_ADDR"] == "127.0.0.1:51052"
    assert identity["IDENTITY_REMOTE_ADDR"] == "127.0.0.1:51055"
    # Web push (docs/push.md): the VAPID key made once under var/keys; local pushes go to real https push services.
    assert identity["IDENTITY_VAPID_PRIVATE_KEY_FILE"] == str(stack.keys.vapid_key_file)
    assert identity["IDENTITY_VAPID_SUBJECT"].startswith("mailto:") and "IDENTITY_PUSH_INSECURE_HOSTS" not in identity
    remote = stack.env_for("remote")
    assert remote["REMOTE_PRINCIPAL_PUBLIC_KEY_FILE"].endswith("keys/principal.pub.pem")
    assert remote["REMOTE_NATS_URL"] == "nats://127.0.0.1:5222" and remote["REMOTE_ENV"] == "dev"
    gateway = stack.env_for("gateway")
    assert gateway["GATEWAY_TICKETS_ADDR"] == "127.0.0.1:51052" and gateway["GATEWAY_HTTP_PORT"] == "9000"
    assert gateway["GATEWAY_SESSION_SECRET"] == stack.keys.session_secret
    assert stack.env_for("assets")["ASSETS_CREDENTIAL_KEYS"] == str(stack.keys.credential_keys_file)
    # The sandbox processor billing serves keeps stored cards and charges in var/, across restarts.
    assert stack.env_for("billing")["BILLING_SANDBOX_STATE"] == str(tmp_path / "sandbox.db")
    assert stack._child_env("tickets")["TICKETS_LOG_LEVEL"] == "DEBUG"


def test_remote_replicas_share_key_database_and_nats_with_their_own_ports_and_ids(tmp_path: Path) -> None:
    stack = Stack(var_dir=tmp_path, port_offset=1000, remote_replicas=2)
    from portal_local.keys import ensure_keys

    stack.keys = ensure_keys(tmp_path)
    assert stack.remote_names == ("remote", "remote-2")
    first, second = stack.env_for("remote"), stack.env_for("remote-2")
    assert first["REMOTE_GRPC_PORT"] == "51055" and first["REMOTE_AGENT_PORT"] == "51065"
    assert (second["REMOTE_GRPC_PORT"], second["REMOTE_AGENT_PORT"]) == ("51155", "51165")
    assert first["REMOTE_METRICS_PORT"] != second["REMOTE_METRICS_PORT"]
    assert (first["REMOTE_REPLICA_ID"], second["REMOTE_REPLICA_ID"]) == ("remote-1", "remote-2")
    for name in ("REMOTE_DATABASE_URL", "REMOTE_NATS_URL", "REMOTE_COMMAND_KEY_FILE", "REMOTE_ASSETS_ADDRESS"):
        assert first[name] == second[name], name
    assert first["REMOTE_DATABASE_URL"].endswith("/remote.db")
    assert first["REMOTE_COMMAND_KEY_FILE"] == str(stack.keys.command_key_file)
    assert first["REMOTE_ASSETS_ADDRESS"] == first["REMOTE_ASSETS_ADDR"] == "127.0.0.1:51054"
    assert stack.agent_addresses == ["127.0.0.1:51065", "127.0.0.1:51165"]
    # The gateway and identity talk to the first replica only; staff are shown its agents' endpoint.
    assert stack.env_for("gateway")["GATEWAY_REMOTE_ADDR"] == "127.0.0.1:51055"
    assert stack.env_for("gateway")["GATEWAY_AGENT_PUBLIC_ADDRESS"] == "127.0.0.1:51065"
    wanted = {w.port for w in stack.port_wants()}
    assert {51055, 51065, 51155, 51165} <= wanted
    # The make run default: one replica, agents on 50065.
    single = Stack(var_dir=tmp_path)
    assert single.remote_names == ("remote",) and single.agent_addresses == ["127.0.0.1:50065"]
    with pytest.raises(ValueError, match="remote_replicas"):
        Stack(var_dir=tmp_path, remote_replicas=0)


def test_gateway_replicas_share_the_services_and_nats_with_their_own_ports(tmp_path: Path) -> None:
    stack = Stack(var_dir=tmp_path, port_offset=1000, gateway_replicas=2)
    from portal_local.keys import ensure_keys

    stack.keys = ensure_keys(tmp_path)
    first, second = stack.env_for("gateway"), stack.env_for("gateway-2")
    assert (first["GATEWAY_HTTP_PORT"], second["GATEWAY_HTTP_PORT"]) == ("9000", "9100")
    assert first["GATEWAY_METRICS_PORT"] != second["GATEWAY_METRICS_PORT"]
    for name in ("GATEWAY_TICKETS_ADDR", "GATEWAY_NATS_URL", "GATEWAY_SESSION_SECRET"):
        assert first[name] == second[name], name
    # Each replica's links name its own address.
    assert second["GATEWAY_PUBLIC_URL"] == "http://127.0.0.1:9100" == stack.gateway_urls[1]
    assert stack.gateway_url == stack.gateway_urls[0] == first["GATEWAY_PUBLIC_URL"]
    assert {9000, 9100} <= {w.port for w in stack.port_wants()}
    assert Stack(var_dir=tmp_path).gateway_urls == ["http://127.0.0.1:8000"]
    with pytest.raises(ValueError, match="gateway_replicas"):
        Stack(var_dir=tmp_path, gateway_replicas=0)


def test_a_second_remote_replica_runs_as_its_own_process_and_stops_with_the_stack(tmp_path: Path) -> None:
    with Stack(var_dir=tmp_path, free_ports=True, processes=["nats", "remote"], remote_replicas=2) as stack:
        first, second = stack.process("remote"), stack.process("remote-2")
        assert first.pid != second.pid and first.running and second.running
        assert stack.is_ready("remote") and stack.is_ready("remote-2")
        assert stack.grpc_addr("remote") != stack.grpc_addr("remote-2")
        pids = [first.pid, second.pid]
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    assert "starting remote-2" in (tmp_path / "logs" / "remote-2.log").read_text()


def test_an_agent_needs_a_started_stack_and_a_real_replica(tmp_path: Path) -> None:
    stack = Stack(var_dir=tmp_path, free_ports=True, processes=["nats"])
    with pytest.raises(StackError, match="start the stack"):
        stack.start_agent(tmp_path / "agent", "token")
    with stack:
        # No remote in this stack: no replica to enrol with.
        with pytest.raises(ValueError, match="replica"):
            stack.start_agent(tmp_path / "agent", "token", replica=0)


def _ignore_sigint() -> None:
    # What a shell does to a job it starts in the background (`python -m portal_local run &` in a script).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("sig", "background"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, True)],
    ids=["ctrl-c", "sigint-in-background", "sigterm"],
)
def test_cli_runs_until_ctrl_c_and_stops_its_children(tmp_path: Path, sig: int, background: bool) -> None:
    nats_port, mail_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "portal_local",
            "run",
            "--var",
            str(tmp_path),
            "--only",
            "nats",
            "mailcatcher",
            "--nats-port",
            str(nats_port),
            "--nats-http-port",
            str(free_port()),
            "--smtp-port",
            str(free_port()),
            "--mail-http-port",
            str(mail_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_ignore_sigint if background else None,  # noqa: PLW1509 - no threads in this test process
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "press Ctrl-C to stop" in line:
                break
        out = "".join(lines)
        assert f"Caught mail       http://127.0.0.1:{mail_port}/" in out, out
        assert "alice@acme.test / demo-acme-123" in out
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) == 2
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, rest
        assert "stopped" in rest
        gone, alive = psutil.wait_procs(children, timeout=5)
        assert not alive
        assert port_is_free(nats_port) and port_is_free(mail_port)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_process_that_dies_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    # A PYTHONHOME without a standard library makes the interpreter exit at once.
    stack = Stack(var_dir=tmp_path, free_ports=True, processes=["mailcatcher"], env={"PYTHONHOME": str(tmp_path)})
    with pytest.raises(StackError, match=r"mailcatcher exited with code \d+ while starting") as err:
        stack.start()
    assert "mailcatcher.log" in str(err.value) and "starting mailcatcher" in str(err.value)
    assert stack.processes == {}


def test_readiness_timeout_names_the_process_and_stops_everything(tmp_path: Path) -> None:
    stack = Stack(var_dir=tmp_path, free_ports=True, processes=["mailcatcher"], ready_timeout=0.0)
    with pytest.raises(StackError, match="not ready within 0s: mailcatcher") as err:
        stack.start()
    assert "last lines of" in str(err.value)
    assert stack.processes == {} and port_is_free(stack.ports["mail_http"])


async def test_a_second_run_keeps_the_nats_store(tmp_path: Path) -> None:
    with Stack(var_dir=tmp_path, free_ports=True, processes=["nats"]) as first:
        nc = await nats.connect(first.nats_url)
        js = nc.jetstream()
        await js.add_stream(name="KEEP", subjects=["keep.>"])
        await js.publish("keep.x.v1", b"x")
        await nc.close()
    with Stack(var_dir=tmp_path, free_ports=True, processes=["nats"]) as second:
        nc = await nats.connect(second.nats_url)
        assert (await nc.jetstream().stream_info("KEEP")).state.messages == 1
        await nc.close()


def _wait(predicate, limit: float = 15.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_supervisor_restarts_a_crash_with_backoff_and_leaves_a_deliberate_stop_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="portal_local.supervisor")
    with Stack(var_dir=tmp_path, free_ports=True, processes=["nats", "mailcatcher"], supervise=True) as stack:
        first = stack.kill_process("mailcatcher")
        _wait(lambda: len(stack.restarts) == 1 and stack.is_ready("mailcatcher"))
        again = stack.restarts[0]
        assert (again.name, again.exit, again.attempt, again.delay) == ("mailcatcher", "signal SIGKILL", 1, 0.5)
        assert again.pid != first and stack.processes["mailcatcher"].pid == again.pid
        # It died again at once: the next wait doubles.
        stack.kill_process("mailcatcher")
        _wait(lambda: len(stack.restarts) == 2)
        assert (stack.restarts[1].attempt, stack.restarts[1].delay) == (2, 1.0)
        text = caplog.text
        assert "mailcatcher exited (signal SIGKILL)" in text and "restarting in 0.5s (attempt 1)" in text
        assert "restarted mailcatcher (pid" in text
        assert "restart 1 after signal SIGKILL" in (tmp_path / "logs" / "mailcatcher.log").read_text()

        # Stopped on purpose, through the Stack or the process itself: not restarted until asked.
        stack.stop_process("mailcatcher")
        assert stack.nats is not None
        stack.nats.stop()
        time.sleep(1.5)
        assert not stack.processes["mailcatcher"].running and not stack.processes["nats"].running
        assert len(stack.restarts) == 2
        stack.nats.start()
        stack.start_process("mailcatcher")
        assert stack.is_ready("mailcatcher") and stack.nats.is_ready()
        pids = [p.pid for p in stack.processes.values()]
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)


def test_free_ports_are_distinct_even_when_the_os_hands_one_back_twice(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """bind(0) releases each port it reports, so the OS may report the same one again; every slot (the second
    remote replica's too) still gets its own port."""
    from portal_local import stack as stack_module
    from portal_local.stack import StackConfig

    handed = iter([41000, 41000, 41001, 41001, 41001] + list(range(41002, 41200)))
    monkeypatch.setattr(stack_module, "free_port", lambda host="127.0.0.1": next(handed))
    ports = Stack(StackConfig(var_dir=tmp_path, free_ports=True, remote_replicas=2)).ports
    assert len(set(ports.values())) == len(ports)
    assert {41000, 41001} <= set(ports.values())


def test_s3_that_loses_an_internal_port_before_binding_it_is_started_again(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """weed binds a dozen internal ports chosen free a moment before; when another process takes one in between, the
    stack starts it again with fresh ones instead of failing (seen twice in whole-suite runs on a busy machine)."""
    import socket

    from portal_local import s3 as s3_module

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    real = s3_module._distinct_free_ports
    chosen: list[dict[str, int]] = []

    def first_choice_taken(names: tuple[str, ...], host: str, *, taken: set[int]) -> dict[str, int]:
        ports = real(names, host, taken=taken)
        if not chosen:
            ports["filer.port"] = squatter.getsockname()[1]
        chosen.append(ports)
        return ports

    monkeypatch.setattr(s3_module, "_distinct_free_ports", first_choice_taken)
    try:
        with Stack(var_dir=tmp_path, free_ports=True, processes=["nats", "s3"]) as stack:
            assert stack.s3 is not None and stack.s3.is_ready()
            assert len(chosen) == 2 and chosen[1]["filer.port"] != squatter.getsockname()[1]
            assert "Port allocation failed" in (tmp_path / "logs" / "s3.log").read_text()
    finally:
        squatter.close()
