"""A small kafka-python client for the test bed (tests/testbed/kafka.sh: kafka_py_produce,
kafka_py_consume). kafka-python comes from PYTHONPATH (kafka_python_install).

  produce BOOTSTRAP TOPIC [--transactional-id ID [--abort] [--send-offset GROUP:OFFSET]]
      One record per line of stdin (the value; no key). Every send is awaited. With
      --transactional-id: init_transactions, then all the lines in one transaction, committed
      (or aborted with --abort); --send-offset also commits OFFSET for partition 0 of TOPIC as
      group GROUP's offset within the transaction (send_offsets_to_transaction: AddOffsetsToTxn,
      TxnOffsetCommit). Exit 0 once the broker acknowledged them (or the abort is done).
  consume BOOTSTRAP TOPIC N GROUP [--isolation-level read_committed|read_uncommitted]
      From the earliest offset: prints up to N values, one per line, and stops at N or after
      --timeout seconds (default 20). Exit 0 if N came, 1 if fewer (their count on stderr).
  committed BOOTSTRAP TOPIC GROUP
      Prints GROUP's committed offset for partition 0 of TOPIC ("none" if it has none).

Every call is bounded: connection, request and send timeouts, and a deadline for consuming.
An error (an exception) exits 2 with its traceback on stderr.
"""

import argparse
import logging
import sys
import time
import traceback

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

TIMEOUT_MS = 20000


def produce(args):
    config = dict(
        bootstrap_servers=args.bootstrap,
        request_timeout_ms=TIMEOUT_MS,
        max_block_ms=TIMEOUT_MS,
        delivery_timeout_ms=TIMEOUT_MS + 10000,
        bootstrap_timeout_ms=TIMEOUT_MS,
        linger_ms=0,
    )
    if args.transactional_id:
        config["transactional_id"] = args.transactional_id
    producer = KafkaProducer(**config)
    lines = [line.rstrip("\n") for line in sys.stdin]
    try:
        if args.transactional_id:
            producer.init_transactions()
            producer.begin_transaction()
        futures = [producer.send(args.topic, line.encode()) for line in lines]
        producer.flush(timeout=TIMEOUT_MS / 1000)
        for f in futures:
            f.get(timeout=TIMEOUT_MS / 1000)
        if args.send_offset:
            group, offset = args.send_offset.rsplit(":", 1)
            offsets = {TopicPartition(args.topic, 0): OffsetAndMetadata(int(offset), "", -1)}
            producer.send_offsets_to_transaction(offsets, group)
        if args.transactional_id:
            if args.abort:
                producer.abort_transaction()
            else:
                producer.commit_transaction()
    finally:
        producer.close(timeout=5)
    verb = "aborted" if args.abort else "committed" if args.transactional_id else "acknowledged"
    print(f"{len(lines)} records {verb}", file=sys.stderr)


def consume(args):
    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        isolation_level=args.isolation_level,
        request_timeout_ms=TIMEOUT_MS + 5000,
        bootstrap_timeout_ms=TIMEOUT_MS,
    )
    got = 0
    deadline = time.monotonic() + args.timeout
    try:
        while got < args.n and time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=500, max_records=args.n - got)
            for records in batches.values():
                for record in records:
                    print(record.value.decode(), flush=True)
                    got += 1
    finally:
        consumer.close()
    print(f"Processed a total of {got} messages", file=sys.stderr)
    return 0 if got >= args.n else 1


def committed(args):
    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        enable_auto_commit=False,
        request_timeout_ms=TIMEOUT_MS + 5000,
        bootstrap_timeout_ms=TIMEOUT_MS,
    )
    try:
        offset = consumer.committed(TopicPartition(args.topic, 0), timeout_ms=TIMEOUT_MS)
    finally:
        consumer.close()
    print("none" if offset is None else offset)
    return 0


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("produce")
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("--transactional-id")
    p.add_argument("--abort", action="store_true")
    p.add_argument("--send-offset")
    c = sub.add_parser("consume")
    c.add_argument("bootstrap")
    c.add_argument("topic")
    c.add_argument("n", type=int)
    c.add_argument("group")
    c.add_argument("--isolation-level", default="read_uncommitted")
    c.add_argument("--timeout", type=float, default=20)
    o = sub.add_parser("committed")
    o.add_argument("bootstrap")
    o.add_argument("topic")
    o.add_argument("group")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.command == "produce":
        produce(args)
        return 0
    if args.command == "committed":
        return committed(args)
    return consume(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # noqa: BLE001 (any client error: exit 2, not 1 = "fewer records")
        traceback.print_exc()
        sys.exit(2)
