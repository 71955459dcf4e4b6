"""The MQTT topic tree and the Kafka topics: the one place that names them.

MQTT (every level under ``minewatch/v1``; the mine id sits at a fixed level so a broker ACL
binds a mine to its own subtree with ``pattern write minewatch/v1/mines/%u/#``)::

    minewatch/v1/mines/{mine_id}/telemetry/{kind}/{station_id}   mine -> minewatch, QoS 1
    minewatch/v1/mines/{mine_id}/status/{station_id}             mine -> minewatch, QoS 1
    minewatch/v1/mines/{mine_id}/reports/{period_kind}           mine -> minewatch, QoS 1
    minewatch/v1/mines/{mine_id}/alerts                          minewatch -> mine, QoS 1
    minewatch/v1/alerts/{level}/{area_code}                      minewatch -> bureaus and platform
    minewatch/v1/flow                                            minewatch -> publishers, retained (ingest/flow.py)

``kind`` is one of :data:`TELEMETRY_KINDS`; it selects the JSON Schema the payload must meet.

>>> telemetry_topic("GZ520201-0001", "wastewater", "WW01")
'minewatch/v1/mines/GZ520201-0001/telemetry/wastewater/WW01'
>>> parse_topic("minewatch/v1/mines/GZ520201-0001/telemetry/wastewater/WW01")
TopicAddress(mine_id='GZ520201-0001', channel='telemetry', kind='wastewater', station_id='WW01')
>>> parse_topic("minewatch/v1/mines/GZ520201-0001/telemetry/sewage/WW01") is None
True
"""

from __future__ import annotations

from typing import Literal, NamedTuple

ROOT = "minewatch/v1"
TELEMETRY_KINDS = ("wastewater", "emission", "slope", "rain")
REPORT_PERIODS = ("monthly", "quarterly", "annual")
Channel = Literal["telemetry", "status", "reports"]

# Shared subscriptions ($share/<group>/<filter>) let several bridges split the load; Mosquitto
# and the iotcore broker both honour them for MQTT 3.1.1 clients.
BRIDGE_SHARE_GROUP = "minewatch-bridge"
# Everything under the subtrees a mine may write (see brokerconfig's ACL), so a message on a
# topic outside minewatch's tree reaches the gate and is dead-lettered, not silently dropped.
BRIDGE_FILTERS = (
    f"{ROOT}/mines/+/telemetry/#",
    f"{ROOT}/mines/+/status/#",
    f"{ROOT}/mines/+/reports/#",
)
FLOW_TOPIC = f"{ROOT}/flow"
BROKER_STORE_TOPIC = "$SYS/broker/store/messages/count"  # Mosquitto: messages it holds (queued + retained)


class KafkaTopics:
    """Kafka topic names. All are created explicitly with one partition count (see stack.py)."""

    TELEMETRY = "minewatch.telemetry.v1"  # per-mine batches of validated telemetry, key = mine id
    STATUS = "minewatch.status.v1"  # device status messages, key = mine id
    REPORTS = "minewatch.reports.v1"  # self-reports, key = mine id
    DEAD_LETTER = "minewatch.deadletter.v1"  # every rejected message with its reason

    ALL = (TELEMETRY, STATUS, REPORTS, DEAD_LETTER)
    WORKER_GROUP = "minewatch"  # the Faust app id, which is its consumer group


class TopicAddress(NamedTuple):
    mine_id: str
    channel: Channel
    kind: str | None
    station_id: str | None


def telemetry_topic(mine_id: str, kind: str, station_id: str) -> str:
    return f"{ROOT}/mines/{mine_id}/telemetry/{kind}/{station_id}"


def status_topic(mine_id: str, station_id: str) -> str:
    return f"{ROOT}/mines/{mine_id}/status/{station_id}"


def report_topic(mine_id: str, period_kind: str) -> str:
    return f"{ROOT}/mines/{mine_id}/reports/{period_kind}"


def mine_alert_topic(mine_id: str) -> str:
    return f"{ROOT}/mines/{mine_id}/alerts"


def jurisdiction_alert_topic(level: str, area_code: str, agency: str) -> str:
    return f"{ROOT}/alerts/{level}/{area_code}/{agency}"


def bridge_subscriptions(share_group: str = BRIDGE_SHARE_GROUP) -> list[str]:
    return [f"$share/{share_group}/{f}" for f in BRIDGE_FILTERS]


def parse_topic(topic: str) -> TopicAddress | None:
    """Split an inbound topic into its parts, or None when it is not a topic minewatch accepts."""
    parts = topic.split("/")
    if len(parts) < 5 or parts[0] != "minewatch" or parts[1] != "v1" or parts[2] != "mines":
        return None
    mine_id, channel, rest = parts[3], parts[4], parts[5:]
    if channel == "telemetry" and len(rest) == 2 and rest[0] in TELEMETRY_KINDS:
        return TopicAddress(mine_id, "telemetry", rest[0], rest[1])
    if channel == "status" and len(rest) == 1:
        return TopicAddress(mine_id, "status", None, rest[0])
    if channel == "reports" and len(rest) == 1 and rest[0] in REPORT_PERIODS:
        return TopicAddress(mine_id, "reports", rest[0], None)
    return None
