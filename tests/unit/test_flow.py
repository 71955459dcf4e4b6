"""Flow control's pure core: hysteresis over the backlog, and the signal publishers read."""

from __future__ import annotations

import pytest

from ingest.flow import Backlog, FlowControl, FlowSignal


def states(flow: FlowControl, backlogs: list[tuple[int | None, int | None]]) -> list[str | None]:
    out = []
    for messages, records in backlogs:
        signal = flow.update(Backlog(messages, records), now=0.0)
        out.append(signal.state if signal else None)
    return out


def test_either_backlog_past_its_high_mark_pauses_and_only_both_under_their_low_marks_resume() -> None:
    flow = FlowControl(high_messages=100, low_messages=10, high_records=50, low_records=5)
    assert states(flow, [(99, 49), (100, 0), (50, 0), (11, 5), (10, 6), (10, 5)]) == [
        None, "pause", None, None, None, "go",
    ]  # fmt: skip
    assert states(flow, [(0, 50), (0, 49), (0, 5)]) == ["pause", None, "go"]


def test_a_backlog_that_cannot_be_measured_does_not_pause() -> None:
    flow = FlowControl(high_messages=100, low_messages=10, high_records=50, low_records=5)
    assert states(flow, [(None, None), (None, 60), (None, None)]) == [None, "pause", "go"]


def test_the_reason_names_both_backlogs_and_the_marks() -> None:
    flow = FlowControl(high_messages=20_000, low_messages=5_000, high_records=1_000, low_records=300)
    signal = flow.update(Backlog(25_000, None), now=0.0)
    assert signal is not None
    assert signal.reason == (
        "MQTT broker holds 25,000 messages (pause at 20,000, go at 5,000); Kafka holds an unknown number of"
        " unstored telemetry records (pause at 1,000, go at 300)"
    )


@pytest.mark.parametrize(("high", "low"), [(10, 10), (10, 11)])
def test_marks_without_a_gap_are_refused(high: int, low: int) -> None:
    with pytest.raises(ValueError, match="low mark"):
        FlowControl(high_messages=high, low_messages=low)
    with pytest.raises(ValueError, match="low mark"):
        FlowControl(high_records=high, low_records=low)


def test_a_pause_ends_by_itself_when_it_is_not_renewed() -> None:
    pause = FlowSignal("pause", "backlog", until=100.0)
    assert pause.paused(99.9) and not pause.paused(100.0)
    assert FlowSignal("pause", "no expiry").paused(1e12)
    assert not FlowSignal("go", "fine").paused(0.0)


def test_signals_survive_the_wire() -> None:
    for signal in (FlowSignal("pause", "backlog", until=1795651260.5), FlowSignal("go", "drained")):
        assert FlowSignal.decode(signal.encode()) == signal


@pytest.mark.parametrize(
    "payload",
    [b"", b"not json", b"[]", b'{"state": "stop"}', b'{"reason": "x"}', b'{"state": "pause", "until": "soon"}'],
)
def test_an_unreadable_signal_means_go_so_no_mine_is_silenced_by_mistake(payload: bytes) -> None:
    signal = FlowSignal.decode(payload)
    assert signal.state == "go" and not signal.paused(0.0)
