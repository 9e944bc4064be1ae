"""`tpdevice sim` says every invariant violation and, when it exits, what the run did."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Callable

from cli_helpers import sim_process

from tpdevice.protocol import (
    Ack,
    Fault,
    FaultCode,
    Frame,
    FrameFlag,
    Heartbeat,
    Hello,
    Message,
    MsgType,
    SetOutput,
    Start,
    StreamDecoder,
    decode_message,
    encode_stream,
)

# The CLI with the firmware's watchdog broken, so the invariant monitor has something to catch.
BROKEN_WATCHDOG = (
    "from tpdevice_sim.safety import Watchdog\n"
    "Watchdog.expired = lambda self, now_s: False\n"
    "from tpdevice.cli.entry import main\n"
    "main()\n"
)


class Host:
    """A bare protocol host on a TCP socket: counts every frame it sends and receives."""

    def __init__(self, address: str) -> None:
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.decoder = StreamDecoder()
        self.sent = 0
        self.received: list[tuple[Frame, Message]] = []

    def send(self, message: Message, seq: int, flags: int = 0) -> None:
        """One frame to the gun."""
        self.sock.sendall(encode_stream(message, seq, flags))
        self.sent += 1

    def read_until(self, done: Callable[[Frame, Message], bool]) -> None:
        """Read until done(frame, message) held for one frame (keeping every frame read)."""
        finished = False
        while not finished:
            data = self.sock.recv(65536)
            assert data, "the gun closed the connection"
            for frame in self.decoder.feed(data):
                self.received.append((frame, message := decode_message(frame)))
                finished = done(frame, message) or finished

    def start_unfed(self) -> None:
        """HELLO with a 100 ms watchdog, an output, START; then never a heartbeat."""
        self.send(Hello(1, 100, 1), 1)
        self.send(SetOutput(30.0), 2)
        self.send(Start(), 3)


def is_watchdog_fault(frame: Frame, message: Message) -> bool:
    """The gun's FAULT saying its watchdog stopped the motor."""
    return isinstance(message, Fault) and message.code is FaultCode.WATCHDOG and message.active


def stop(proc: subprocess.Popen[str]) -> list[str]:
    """SIGTERM, wait, return stderr's lines (exit code 0 checked)."""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    return err.splitlines()


def test_exit_record_counts_faults_trips_and_violations() -> None:
    # Device time runs 100x slower: its 1 Hz telemetry stays quiet, the watchdog counts real time.
    with sim_process("--transport", "tcp", "--faults", "dup=1", "--time-scale", "0.01") as proc:
        assert proc.stdout is not None
        host = Host(proc.stdout.readline().strip())
        host.start_unfed()
        host.read_until(is_watchdog_fault)
        fault = next(f for f, m in host.received if is_watchdog_fault(f, m))
        host.send(Ack(MsgType.FAULT), fault.seq, FrameFlag.RESPONSE | FrameFlag.FROM_DEVICE)
        host.send(Heartbeat(1), 4)
        copies = [0]

        def last_answer(frame: Frame, message: Message) -> bool:
            copies[0] += frame.seq == 4 and bool(frame.flags & FrameFlag.RESPONSE)
            return copies[0] == 4  # the heartbeat and its duplicate, each answer duplicated

        host.read_until(last_answer)
        host.sock.close()
        lines = stop(proc)
    # dup=1: every frame either way is duplicated, so each one counts as one injected fault.
    assert len(host.received) % 2 == 0
    injected = host.sent + len(host.received) // 2
    assert lines[-1] == f"sim: 1 gun, {injected} faults injected, 1 watchdog trip, 0 violations"
    assert len(lines) == 2, lines  # what runs, the record: the watchdog's warning is not said


def test_violation_is_said_without_verbose_then_counted() -> None:
    with sim_process("--transport", "tcp", code=BROKEN_WATCHDOG) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        host = Host(proc.stdout.readline().strip())
        host.start_unfed()
        assert proc.stderr.readline().startswith("tpdevice sim: 1 simulated gun on tcp")
        violation = proc.stderr.readline()
        host.sock.close()
        lines = stop(proc)
    assert violation.startswith("sim: SIM-0000: invariant violated at ")
    assert "after the last heartbeat (watchdog 100 ms)" in violation
    assert lines == ["sim: 1 gun, 0 faults injected, 0 watchdog trips, 1 violation"]


def test_ctrl_c_also_prints_the_record() -> None:
    with sim_process("--transport", "serial", "--count", "3") as proc:
        assert proc.stdout is not None
        for _ in range(3):
            proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert err.splitlines()[-1] == "sim: 3 guns, 0 faults injected, 0 watchdog trips, 0 violations"


def test_simulated_theraguns_print_the_record_too() -> None:
    with sim_process("--transport", "ble", "--model", "theragun-pro", "--count", "2") as proc:
        assert proc.stdout is not None
        for _ in range(2):
            proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert err.splitlines()[-1] == "sim: 2 guns, 0 faults injected, 0 watchdog trips, 0 violations"
