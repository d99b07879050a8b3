#!/usr/bin/env python3
"""Reads a topic written by Tributary with confluent-kafka and decodes it with fastavro.

Formats (--format):

  confluent      magic byte 0 + 4-byte big-endian schema id + Avro binary body. Decoded twice:
                 with Confluent's own AvroDeserializer (confluent_kafka.schema_registry.avro, which
                 fetches the schema from the registry) and by hand (header, schema fetched by id
                 with Confluent's SchemaRegistryClient, fastavro.schemaless_reader). Both must agree.
  single-object  Avro single-object encoding: C3 01 + 8-byte little-endian CRC-64-AVRO fingerprint +
                 body. Writer schemas come from --schema-file, or from --schema-topic: Tributary's
                 compacted schema topic (default name _tributary_schemas), whose records are keyed
                 by the fingerprint as 16 hex digits, most significant first, with the writer
                 schema's JSON as value. Fingerprints are computed with fastavro
                 (fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")): a schema whose
                 fingerprint is not its key, or a message whose fingerprint matches no schema, fails.

Reads every partition from the beginning (a fresh consumer group) up to the end offsets seen at
start, then exits. One JSON line per record on stdout:

  {"partition": 0, "offset": "3", "key": "DE-LU", "schemaId": 1 | "fingerprint": "hex", "value": {...}}

Integers (Avro int and long, timestamps as epoch milliseconds) are written as decimal strings so
that no JSON reader loses precision; decimals as plain strings; dates as YYYY-MM-DD; bytes as hex.
A record that cannot be decoded prints {"error": ...} and makes the exit code 1; a timeout exits 2.
"""

import argparse
import datetime
import decimal
import io
import json
import math
import sys
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import schemaless_reader
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

STARTED = time.monotonic()


def progress(msg):
    """A progress line on stderr (shown by the test when something fails)."""
    print(f"[consume.py +{time.monotonic() - STARTED:.2f}s] {msg}", file=sys.stderr, flush=True)


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
ONE_MS = datetime.timedelta(milliseconds=1)


def to_json(value):
    """A decoded Avro value as JSON-ready data (see the module docstring for the rules)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        # JSON has no NaN or infinities: write them as strings, as the Java consumer does.
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime.datetime):
        # fastavro gives timestamp-millis as an aware UTC datetime; exact integer milliseconds.
        return str((value - EPOCH) // ONE_MS)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


class ConfluentDecoder:
    """Confluent framing: Confluent's AvroDeserializer, cross-checked by a decode by hand."""

    def __init__(self, registry_url, topic):
        # A request timeout: the client's default is none, so one unanswered request would hang.
        self.registry = SchemaRegistryClient({"url": registry_url, "timeout": 10})
        # TOPIC: the subject is "<topic>-value", as Tributary registers it. confluent-kafka's default
        # (ASSOCIATED) first asks Confluent's newer /associations API, which other registries
        # (Apicurio's ccompat API among them) do not have.
        self.deserializer = AvroDeserializer(self.registry, conf={"subject.name.strategy.type": "TOPIC"})
        self.context = SerializationContext(topic, MessageField.VALUE)
        self.schemas = {}

    def decode(self, raw):
        if raw is None or len(raw) < 5 or raw[0] != 0:
            raise ValueError("not Confluent-framed (magic byte 0 + 4-byte schema id expected)")
        schema_id = int.from_bytes(raw[1:5], "big")
        official = self.deserializer(raw, self.context)
        parsed = self.schemas.get(schema_id)
        if parsed is None:
            progress(f"schema id {schema_id}: fetching it from the registry")
            parsed = parse_schema(json.loads(self.registry.get_schema(schema_id).schema_str))
            self.schemas[schema_id] = parsed
        body = io.BytesIO(raw[5:])
        by_hand = schemaless_reader(body, parsed)
        if body.tell() != len(raw) - 5:
            raise ValueError(f"{len(raw) - 5 - body.tell()} bytes left after the record")
        if to_json(official) != to_json(by_hand):
            raise ValueError("AvroDeserializer and fastavro disagree")
        return {"schemaId": schema_id, "value": to_json(official)}


class SingleObjectDecoder:
    """Avro single-object encoding; writer schemas from a file or from the schema topic."""

    def __init__(self, schema_file=None, schema_topic=None, brokers=None):
        self.schema_topic = schema_topic
        self.brokers = brokers
        self.schemas = {}  # fingerprint as in the message header (8 bytes little-endian, hex) -> parsed schema
        if schema_file:
            with open(schema_file, encoding="utf-8") as f:
                self.add(json.load(f))
        if schema_topic:
            self.read_schema_topic()

    def add(self, schema_json):
        parsed = parse_schema(schema_json)
        fp = fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO")
        self.schemas[fp] = parsed
        return fp

    def read_schema_topic(self):
        """Reads the whole schema topic (no consumer group offsets are committed)."""
        progress(f"reading the schema topic {self.schema_topic}")
        reader = Consumer({
            "bootstrap.servers": self.brokers,
            "group.id": f"interop-python-schemas-{uuid.uuid4()}",
            "enable.auto.commit": False,
        })
        try:
            meta = reader.list_topics(self.schema_topic, timeout=30)
            topic_meta = meta.topics.get(self.schema_topic)
            if topic_meta is None or topic_meta.error is not None:
                raise KafkaException(f"schema topic {self.schema_topic} does not exist")
            remaining = {}
            for p in topic_meta.partitions:
                low, high = reader.get_watermark_offsets(TopicPartition(self.schema_topic, p), timeout=10)
                if high > low:
                    remaining[p] = high - 1
            reader.assign([TopicPartition(self.schema_topic, p, OFFSET_BEGINNING) for p in remaining])
            deadline = time.monotonic() + 30
            while remaining and time.monotonic() < deadline:
                msg = reader.poll(0.2)
                if msg is None:
                    continue
                if msg.error():
                    raise KafkaException(msg.error())
                key = msg.key().decode("ascii")
                header_fp = bytes.fromhex(key)[::-1].hex()  # the key is big-endian, the header little-endian
                if msg.value() is None:
                    self.schemas.pop(header_fp, None)  # a tombstone
                else:
                    fp = self.add(json.loads(msg.value().decode("utf-8")))
                    if fp != header_fp:
                        raise ValueError(f"schema topic: the schema under key {key} has fingerprint {bytes.fromhex(fp)[::-1].hex()}")
                if msg.offset() >= remaining.get(msg.partition(), -1):
                    remaining.pop(msg.partition(), None)
            if remaining:
                raise KafkaException(f"schema topic {self.schema_topic}: could not read to the end in 30 s")
            progress(f"schema topic read: {len(self.schemas)} schema(s)")
        finally:
            reader.close()

    def decode(self, raw):
        if raw is None or len(raw) < 10 or raw[0:2] != b"\xc3\x01":
            raise ValueError("not single-object-encoded (C3 01 + 8-byte fingerprint expected)")
        fp = raw[2:10].hex()
        if fp not in self.schemas and self.schema_topic:
            self.read_schema_topic()  # a schema published after we looked
        schema = self.schemas.get(fp)
        if schema is None:
            raise ValueError(f"no writer schema has the fingerprint {fp} (known: {sorted(self.schemas)})")
        body = io.BytesIO(raw[10:])
        value = schemaless_reader(body, schema)
        if body.tell() != len(raw) - 10:
            raise ValueError(f"{len(raw) - 10 - body.tell()} bytes left after the record")
        return {"fingerprint": fp, "value": to_json(value)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--format", required=True, choices=["confluent", "single-object"])
    ap.add_argument("--registry", help="Confluent-compatible registry URL (confluent format)")
    ap.add_argument("--schema-file", help="writer schema as JSON (single-object format)")
    ap.add_argument("--schema-topic", help="schema topic keyed by fingerprint, e.g. _tributary_schemas (single-object format)")
    ap.add_argument("--group", default=f"interop-python-{uuid.uuid4()}")
    ap.add_argument("--timeout-ms", type=int, default=60000)
    args = ap.parse_args()

    if args.format == "confluent":
        if not args.registry:
            ap.error("--registry is required with --format confluent")
        decoder = ConfluentDecoder(args.registry, args.topic)
    else:
        if not args.schema_file and not args.schema_topic:
            ap.error("--schema-file or --schema-topic is required with --format single-object")
        decoder = SingleObjectDecoder(args.schema_file, args.schema_topic, args.brokers)

    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    deadline = time.monotonic() + args.timeout_ms / 1000
    failed = False
    read = 0
    try:
        progress(f"fetching metadata of {args.topic}")
        meta = consumer.list_topics(args.topic, timeout=10)
        topic_meta = meta.topics.get(args.topic)
        if topic_meta is None or topic_meta.error is not None or not topic_meta.partitions:
            raise KafkaException(f"topic {args.topic} does not exist")
        # Last offset to read per partition (high watermark - 1); empty partitions are done already.
        remaining = {}
        for p in topic_meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(args.topic, p), timeout=10)
            if high > low:
                remaining[p] = high - 1
        progress(f"last offsets to read: {remaining}; subscribing")
        consumer.subscribe([args.topic], on_assign=lambda _c, parts: progress(f"assigned {[p.partition for p in parts]}"))
        while remaining:
            if time.monotonic() > deadline:
                progress(f"timed out after {args.timeout_ms} ms with {read} records read; partitions not read to the end: {sorted(remaining)}")
                sys.exit(2)
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            if read == 0:
                progress("first record received")
            line = {"partition": msg.partition(), "offset": str(msg.offset())}
            try:
                key = msg.key()
                line["key"] = None if key is None else key.decode("utf-8")
                line.update(decoder.decode(msg.value()))
            except Exception as err:  # report the record and go on: the test shows every failure
                failed = True
                line = {"partition": msg.partition(), "offset": str(msg.offset()), "error": f"{type(err).__name__}: {err}"}
            print(json.dumps(line, allow_nan=False), flush=True)
            read += 1
            if msg.partition() in remaining and msg.offset() >= remaining[msg.partition()]:
                del remaining[msg.partition()]
        progress(f"read {read} records; closing")
    finally:
        consumer.close()
    progress("done")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
