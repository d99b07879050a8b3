#!/usr/bin/env python3
"""The downstream service of src/service.ts in Python: reads a topic that Tributary writes, with
confluent-kafka, decodes the Avro values with fastavro, and keeps a rolling average per key.

    pip install -r requirements.txt
    KAFKA_BROKERS=127.0.0.1:39092 python3 rolling_average.py                  # energy.prices, 24 h average of price
    KAFKA_BROKERS=... python3 rolling_average.py --topic air.measurements --field value \\
        --group-by station_number,formula --window 6h

Values come in one of Tributary's two wire formats, told apart by their first bytes:

  single-object  C3 01 + 8-byte little-endian CRC-64-AVRO fingerprint + Avro body (no registry).
                 Writer schemas are in Tributary's compacted schema topic (_tributary_schemas),
                 keyed by the fingerprint as 16 hex digits, most significant first; value: the
                 schema as JSON.
  confluent      00 + 4-byte big-endian schema id + Avro body; schemas from the registry at
                 SCHEMA_REGISTRY_URL (GET /schemas/ids/{id}).

Tributary sets each record's Kafka timestamp to its event time, which is what the window uses.
"""

import argparse
import io
import json
import os
import re
import signal
import sys
import time
import urllib.request
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from fastavro import schemaless_reader
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from rolling import RollingAverages

SCHEMA_TOPIC = "_tributary_schemas"


def parse_duration(text):
    """`30s`, `15m`, `24h`, `7d` or a number of ms -> ms."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"expected a duration such as 30s, 15m, 24h or 7d, got {text!r}")
    return float(m.group(1)) * {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[m.group(2) or "ms"]


class Decoder:
    """Decodes Tributary's Avro values in either wire format."""

    def __init__(self, brokers, registry_url=None):
        self.brokers = brokers
        self.registry_url = registry_url.rstrip("/") if registry_url else None
        self.by_fingerprint = {}  # 8 header bytes as hex (little-endian) -> parsed schema
        self.by_id = {}

    def decode(self, raw):
        if raw is None:
            return None
        if raw[:2] == b"\xc3\x01" and len(raw) >= 10:
            fp = raw[2:10].hex()
            if fp not in self.by_fingerprint:
                self.read_schema_topic()
            schema = self.by_fingerprint.get(fp)
            if schema is None:
                raise ValueError(f"no schema with fingerprint {fp} in {SCHEMA_TOPIC}")
            return schemaless_reader(io.BytesIO(raw[10:]), schema)
        if raw[:1] == b"\x00" and len(raw) >= 5:
            schema_id = int.from_bytes(raw[1:5], "big")
            if schema_id not in self.by_id:
                if not self.registry_url:
                    raise ValueError("a Confluent-framed value: set SCHEMA_REGISTRY_URL")
                with urllib.request.urlopen(f"{self.registry_url}/schemas/ids/{schema_id}", timeout=10) as res:
                    self.by_id[schema_id] = parse_schema(json.loads(json.load(res)["schema"]))
            return schemaless_reader(io.BytesIO(raw[5:]), self.by_id[schema_id])
        raise ValueError("not an Avro value of Tributary (expected C3 01 or 00 as first bytes)")

    def read_schema_topic(self):
        """Reads the whole schema topic from the beginning (a fresh group; nothing committed)."""
        reader = Consumer({"bootstrap.servers": self.brokers, "group.id": f"rolling-average-schemas-{uuid.uuid4()}", "enable.auto.commit": False})
        try:
            meta = reader.list_topics(SCHEMA_TOPIC, timeout=10).topics.get(SCHEMA_TOPIC)
            if meta is None or meta.error is not None:
                raise KafkaException(f"schema topic {SCHEMA_TOPIC} does not exist")
            remaining = {}
            for p in meta.partitions:
                low, high = reader.get_watermark_offsets(TopicPartition(SCHEMA_TOPIC, p), timeout=10)
                if high > low:
                    remaining[p] = high - 1
            reader.assign([TopicPartition(SCHEMA_TOPIC, p, OFFSET_BEGINNING) for p in remaining])
            deadline = time.monotonic() + 30
            while remaining and time.monotonic() < deadline:
                msg = reader.poll(0.2)
                if msg is None:
                    continue
                if msg.error():
                    raise KafkaException(msg.error())
                if msg.value() is not None:
                    schema = parse_schema(json.loads(msg.value().decode("utf-8")))
                    # fastavro gives the fingerprint's bytes in the order of the message header (little-endian)
                    self.by_fingerprint[fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")] = schema
                if msg.offset() >= remaining.get(msg.partition(), -1):
                    remaining.pop(msg.partition(), None)
        finally:
            reader.close()


def field(value, path):
    """A (dotted) field of a decoded value: `price`, `station.id`."""
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def fmt(x):
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.2f}"


def print_table(stats):
    width = max((len(s["key"]) for s in stats), default=0)
    for s in stats:
        at = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(s["latestAt"] / 1000))
        print(f"{s['key']:<{width}}  avg {fmt(s['average'])}  min {fmt(s['min'])}  max {fmt(s['max'])}  n={s['count']}  latest {fmt(s['latest'])} at {at}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topic", default="energy.prices")
    ap.add_argument("--field", default="price")
    ap.add_argument("--window", default="24h", type=parse_duration)
    ap.add_argument("--group-by", help="value fields joined with / as the key (default: the record key)")
    ap.add_argument("--group-id", default="rolling-average-py")
    ap.add_argument("--from", dest="start", default="earliest", choices=["earliest", "latest"])
    ap.add_argument("--every", default="5s", type=parse_duration, help="how often to print the keys that changed")
    ap.add_argument("--idle", type=parse_duration, help="stop after this long without records")
    args = ap.parse_args()
    brokers = os.environ.get("KAFKA_BROKERS")
    if not brokers:
        sys.exit("Set KAFKA_BROKERS (host:port[,host:port]), e.g. KAFKA_BROKERS=127.0.0.1:39092 after `npm run kafka:start`.")

    decoder = Decoder(brokers, os.environ.get("SCHEMA_REGISTRY_URL"))
    averages = RollingAverages(args.window)
    group_by = [f.strip() for f in args.group_by.split(",")] if args.group_by else None
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": args.group_id,
        "auto.offset.reset": args.start,
        "enable.auto.commit": True,  # at-least-once: offsets of polled records are committed in the background
        "isolation.level": "read_committed",
    })
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    print(f"Rolling {args.window / 3_600_000:g}h average of \"{args.field}\" per {args.group_by or 'key'} in {args.topic} (Ctrl-C stops)", flush=True)
    consumer.subscribe([args.topic])
    changed, new_values, last_print, last_record = set(), 0, time.monotonic(), time.monotonic()
    try:
        while not stopping:
            msg = consumer.poll(0.5)
            now = time.monotonic()
            if msg is not None:
                if msg.error():
                    raise KafkaException(msg.error())
                last_record = now
                value = decoder.decode(msg.value())
                key = "/".join(str(field(value, f)) for f in group_by) if group_by else (msg.key() or b"").decode("utf-8")
                number = field(value, args.field)
                if isinstance(number, (int, float)) and not isinstance(number, bool):
                    if averages.add(key, msg.timestamp()[1], float(number)) is not None:
                        changed.add(key)
                        new_values += 1
            if changed and now - last_print >= args.every / 1000:
                print(f"-- {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}: {new_values} new values", flush=True)
                print_table([averages.stats(k) for k in sorted(changed)])
                changed, new_values, last_print = set(), 0, now
            if args.idle and now - last_record >= args.idle / 1000 + (30 if not averages.all() else 0):
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    print("-- stopped: final averages", flush=True)
    print_table(averages.all())


if __name__ == "__main__":
    main()
