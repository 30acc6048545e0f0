#!/usr/bin/env python3
"""Benchmark the embedded KurrentDB-compatible node, running in its own process.

    .venv/bin/python bench/node.py                  # full run (1,000,000 events for the RSS figure)
    .venv/bin/python bench/node.py --events 200000  # shorter memory phase

Each figure is measured with the real `kurrentdbclient` against a node started with
`python -m kurrent.embedded` on a durable SQLite file (fsync on every commit), and compared with
baselines measured in the same run:
- bare unary: a raw gRPC stub calling Gossip.Read on the same node;
- bare Append: `append_to_stream` of one event through kurrentdbclient against a bare grpcio
  server that answers success without doing anything. The client sends one event as a
  client-streaming call (2 requests, 1 response), so this is the floor for a single-event
  append, shown for reference;
- bare server-streaming: 10,000 small pre-built ReadResp messages from a bare grpcio server,
  read with a raw stub.
The table shows per-operation latency (median, p95), the rate at the median, and the ratio of
that rate to its baseline's. Targets come from issues #2 and #13.

The 1,000-subscriptions case (issue #13) opens 1,000 idle catch-up subscriptions (800 to
streams, 200 to `$all` with a stream-prefix filter nothing matches) over 4 client connections,
then measures single appends again: their p95 is compared with the p95 measured just before
the subscriptions were opened (target: at most 2x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
from kurrentdbclient import CaughtUp, KurrentDBClient, NewEvent, StreamState  # noqa: E402
from kurrentdbclient.protos.v1 import (  # noqa: E402
    gossip_pb2_grpc,
    shared_pb2,
    streams_pb2,
    streams_pb2_grpc,
)

from kurrent.embedded import NodeProcess  # noqa: E402

DATA = b'{"pool": "penguin", "depth": 42, "note": "benchmark event"}'
STREAM_EVENTS = 10_000
IDLE_SUBSCRIPTIONS = 1000
# Events appended by the bench so far (positions are log offsets, not counts).
APPENDED = [0]


# -- the bare baseline server (runs as `bench/node.py --baseline-server`) ---------------------


def small_message() -> streams_pb2.ReadResp:
    """A ReadResp like the node sends for one benchmark event."""
    recorded = streams_pb2.ReadResp.ReadEvent.RecordedEvent(
        id=shared_pb2.UUID(string=str(uuid.uuid4())),
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=b"bench-read"),
        stream_revision=1234,
        prepare_position=56789,
        commit_position=56789,
        metadata={"type": "Benched", "content-type": "application/json", "created": "1" * 18},
        data=DATA,
    )
    return streams_pb2.ReadResp(
        event=streams_pb2.ReadResp.ReadEvent(event=recorded, commit_position=56789)
    )


class BareStreams(streams_pb2_grpc.StreamsServicer):
    def __init__(self) -> None:
        self.message = small_message()

    def Read(self, request, context):
        message = self.message
        for _ in range(request.options.count):
            yield message

    def Append(self, request_iterator, context):
        for _ in request_iterator:
            pass
        success = streams_pb2.AppendResp.Success(current_revision=0)
        success.position.commit_position = success.position.prepare_position = 1
        return streams_pb2.AppendResp(success=success)


def baseline_server() -> None:
    server = grpc.server(ThreadPoolExecutor(max_workers=400))  # as the node's pool
    streams_pb2_grpc.add_StreamsServicer_to_server(BareStreams(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.stop(0)


# -- measuring ----------------------------------------------------------------------------------


def timed(call: Callable[[], object], repeat: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def interleaved(
    calls: dict[str, Callable[[], object]], rounds: int, per_round: int, warmup: int = 100
) -> dict[str, list[float]]:
    """Latency samples of several calls, measured in alternating rounds."""
    for call in calls.values():
        timed(call, 0, warmup)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            samples[name] += timed(call, per_round, 0)
    return samples


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


class Row:
    def __init__(self, name, samples, per_op=1, unit="ops/s", baseline=None, target=None):
        self.name = name
        self.median = statistics.median(samples)
        self.p95 = p95(samples)
        self.rate = per_op / self.median
        self.unit = unit
        self.baseline = baseline
        self.target = target  # ("ratio", 0.6) or ("rate", 20000) or None

    @property
    def ratio(self) -> float | None:
        return self.rate / self.baseline.rate if self.baseline else None

    def verdict(self) -> str:
        if not self.target:
            return ""
        kind, value = self.target
        measured = self.ratio if kind == "ratio" else self.rate
        label = f">= {value:.0%} of baseline" if kind == "ratio" else f">= {value:,.0f} {self.unit}"
        return f"{label}: {'met' if measured >= value else 'MISSED'}"


def print_table(rows: list[Row]) -> None:
    header = f"{'figure':44} {'median':>10} {'p95':>10} {'rate at median':>20} {'ratio':>7}  target"
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
        rate = f"{row.rate:,.0f} {row.unit}"
        print(
            f"{row.name:44} {row.median * 1000:>8.2f}ms {row.p95 * 1000:>8.2f}ms"
            f" {rate:>20} {ratio:>7}  {row.verdict()}"
        )


def rss_of(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def fill(client: KurrentDBClient, total: int, threads: int = 2, batch: int = 500) -> float:
    """Append `total` events over 2,000 streams from several threads; returns events/s."""
    calls = total // batch
    payload = [NewEvent(type="Loaded", data=DATA) for _ in range(batch)]
    counter = iter(range(calls))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            fresh = [NewEvent(type=e.type, data=e.data) for e in payload]
            client.append_to_stream(
                f"load-{n % 2000}", events=fresh, current_version=StreamState.ANY
            )

    start = time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return calls * batch / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="events in the log for the memory figure"
    )
    parser.add_argument("--repeat", type=int, default=1000, help="calls per latency sample set")
    args = parser.parse_args()
    if args.baseline_server:
        baseline_server()
        return 0

    print(f"# bench/node.py  cpus={os.cpu_count()}  load average at start={os.getloadavg()[0]:.2f}")
    workdir = tempfile.mkdtemp(prefix="kurrent-bench-")
    bare = subprocess.Popen(
        [sys.executable, __file__, "--baseline-server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    node = NodeProcess(db=os.path.join(workdir, "bench.sqlite3")).start()
    no_fsync = NodeProcess(db=os.path.join(workdir, "nofsync.sqlite3"), extra_args=["--no-fsync"])
    try:
        no_fsync.start()
        bare_port = int(bare.stdout.readline())
        rows = run(node, no_fsync, bare_port, args)
        print()
        print_table(rows)
        print(
            "\nNote: kurrentdbclient sends a single event as a client-streaming call (Append), which"
            "\ncosts more than a unary round trip even against a server doing nothing; the 'bare"
            "\nAppend call' row is that floor, and the node's own cost is the difference to it."
        )
        return 0
    finally:
        node.stop()
        no_fsync.stop()
        bare.stdin.close()
        bare.wait(10)


def run(node: NodeProcess, no_fsync: NodeProcess, bare_port: int, args) -> list[Row]:
    client = KurrentDBClient(node.url)
    fast_client = KurrentDBClient(no_fsync.url)
    node_channel = grpc.insecure_channel(f"127.0.0.1:{node.port}")
    bare_channel = grpc.insecure_channel(f"127.0.0.1:{bare_port}")
    gossip = gossip_pb2_grpc.GossipStub(node_channel)
    bare_streams = streams_pb2_grpc.StreamsStub(bare_channel)
    repeat = args.repeat

    print("measuring unary baseline, client-streaming baseline and single appends ...", flush=True)
    bare_client = KurrentDBClient(f"kurrentdb://127.0.0.1:{bare_port}?Tls=false")
    single_stream = f"bench-single-{uuid.uuid4().hex}"

    def single_appender(db: KurrentDBClient, stream: str | None = None) -> Callable[[], None]:
        version = iter(range(-1, 10**9))
        name = stream or single_stream

        def single_append() -> None:
            current = next(version)
            APPENDED[0] += 1
            db.append_to_stream(
                name,
                events=NewEvent(type="Benched", data=DATA),
                current_version=StreamState.NO_STREAM if current < 0 else current,
            )

        return single_append

    # Baselines and figures are measured in alternating rounds, so that load from other
    # processes on the machine affects them alike.
    calls = interleaved(
        {
            "unary": lambda: gossip.Read(shared_pb2.Empty()),
            "client_streaming": lambda: bare_client.append_to_stream(
                "bare", events=NewEvent(type="Benched", data=DATA), current_version=StreamState.ANY
            ),
            "single": single_appender(client),
            "single_no_fsync": single_appender(fast_client),
        },
        rounds=20,
        per_round=max(1, repeat // 20),
    )
    unary = Row("bare unary round trip (Gossip.Read, node)", calls["unary"])
    client_streaming = Row(
        "bare Append call, no work (kurrentdbclient)", calls["client_streaming"], baseline=unary
    )
    single = Row(
        "single-event append (Append, 1 client)",
        calls["single"],
        baseline=unary,
        target=("ratio", 0.6),
    )
    single_no_fsync = Row(
        "  same on a node run with --no-fsync", calls["single_no_fsync"], baseline=unary
    )
    single_vs_floor = Row(
        "  single-event append vs bare Append call", calls["single"], baseline=client_streaming
    )

    print("measuring appends of 100 events ...", flush=True)
    batches = [[NewEvent(type="Benched", data=DATA) for _ in range(100)] for _ in range(400)]
    batch_iter = iter(batches)

    def batch_append() -> None:
        client.append_to_stream(
            "bench-batch", events=next(batch_iter), current_version=StreamState.ANY
        )
        APPENDED[0] += 100

    fast_batches = iter(
        [[NewEvent(type="Benched", data=DATA) for _ in range(100)] for _ in range(400)]
    )

    def fast_batch_append() -> None:
        fast_client.append_to_stream(
            "bench-batch", events=next(fast_batches), current_version=StreamState.ANY
        )

    batch_calls = interleaved(
        {"batch": batch_append, "batch_no_fsync": fast_batch_append}, rounds=10, per_round=25
    )
    batch = Row(
        "append of 100 events per call (BatchAppend)",
        batch_calls["batch"],
        per_op=100,
        unit="events/s",
        target=("rate", 20_000),
    )
    batch_no_fsync = Row(
        "  same on a node run with --no-fsync",
        batch_calls["batch_no_fsync"],
        per_op=100,
        unit="events/s",
    )

    print("measuring streaming baseline, reads and catch-up ...", flush=True)
    read_stream = f"bench-read-{uuid.uuid4().hex}"
    for n in range(STREAM_EVENTS // 500):
        client.append_to_stream(
            read_stream,
            events=[NewEvent(type="Benched", data=DATA) for _ in range(500)],
            current_version=n * 500 - 1 if n else StreamState.NO_STREAM,
        )
        APPENDED[0] += 500
    read_request = streams_pb2.ReadReq(options=streams_pb2.ReadReq.Options(count=STREAM_EVENTS))
    raw_request = client.streams._construct_read_request(stream_name=read_stream)
    node_streams = streams_pb2_grpc.StreamsStub(node_channel)

    def catch_up() -> None:
        subscription = client.subscribe_to_stream(read_stream, include_caught_up=True)
        count = 0
        for item in subscription:
            if isinstance(item, CaughtUp):
                break
            count += 1
        subscription.stop()
        assert count == STREAM_EVENTS, count

    streams = interleaved(
        {
            "bare": lambda: sum(1 for _ in bare_streams.Read(read_request)),
            "read": lambda: client.get_stream(read_stream),
            "raw": lambda: sum(1 for _ in node_streams.Read(raw_request)),
            "catch_up": catch_up,
        },
        rounds=15,
        per_round=1,
        warmup=2,
    )
    streaming = Row(
        "bare server-streaming of 10,000 messages",
        streams["bare"],
        per_op=STREAM_EVENTS,
        unit="msg/s",
    )
    read = Row(
        "read a 10,000-event stream (get_stream)",
        streams["read"],
        per_op=STREAM_EVENTS,
        unit="events/s",
        baseline=streaming,
        target=("ratio", 0.6),
    )
    raw_read = Row(
        "  same read with a raw stub (no client work)",
        streams["raw"],
        per_op=STREAM_EVENTS,
        unit="events/s",
        baseline=streaming,
    )
    subscription = Row(
        "subscription catching up on 10,000 events",
        streams["catch_up"],
        per_op=STREAM_EVENTS,
        unit="events/s",
        baseline=streaming,
        target=("ratio", 0.6),
    )

    idle = idle_subscriptions(node, single_appender, repeat)

    todo = max(0, args.events - APPENDED[0])
    print(f"loading {todo:,} more events for the memory figure ...", flush=True)
    load_rate = fill(client, todo)
    total = APPENDED[0] + todo // 500 * 500
    log_bytes = client.get_commit_position(filter_exclude=())
    rss, peak = rss_of(node.pid)
    print(
        f"log holds {total:,} events in {log_bytes / 2**20:,.0f} MiB of positions;"
        f" load rate {load_rate:,.0f} events/s (2 writers, 500 per call)"
    )
    verdict = "met" if peak <= 150 else "MISSED"
    print(
        f"node RSS after the load: {rss:.0f} MiB now, {peak:.0f} MiB peak  (target <= 150 MiB: {verdict})"
    )
    client.close()
    node_channel.close()
    bare_channel.close()
    fast_client.close()
    bare_client.close()
    return [
        unary,
        client_streaming,
        single,
        single_no_fsync,
        single_vs_floor,
        batch,
        batch_no_fsync,
        streaming,
        read,
        raw_read,
        subscription,
        *idle,
    ]


def idle_subscriptions(node: NodeProcess, single_appender, repeat: int) -> list[Row]:
    """Single appends before and while 1,000 idle subscriptions are open (issue #13)."""
    print(f"measuring single appends with {IDLE_SUBSCRIPTIONS:,} idle subscriptions ...")
    writer = KurrentDBClient(node.url)
    # Written where no subscription looks: "bench-idle-..." would match the $all filter and
    # make every append an event for 200 subscriptions.
    append = single_appender(writer, f"bench-writes-{uuid.uuid4().hex}")
    without = Row("single append, no subscriptions open", timed(append, repeat, 100))
    clients = [KurrentDBClient(node.url) for _ in range(4)]
    rss_before = rss_of(node.pid)[0]
    started = time.perf_counter()
    subscriptions = []
    for n in range(IDLE_SUBSCRIPTIONS):
        client = clients[n % 4]
        if n % 5 == 0:
            subscriptions.append(
                client.subscribe_to_all(
                    from_end=True, filter_include=["bench-idle-"], filter_by_stream_name=True
                )
            )
        else:
            subscriptions.append(client.subscribe_to_stream(f"bench-idle-{n}"))
    opened = time.perf_counter() - started
    rss_with = rss_of(node.pid)[0]
    with_subs = Row(
        f"  same with {IDLE_SUBSCRIPTIONS:,} idle subscriptions open",
        timed(append, repeat, 100),
        baseline=without,
    )
    p95_ratio = with_subs.p95 / without.p95
    verdict = "met" if p95_ratio <= 2 else "MISSED"
    print(
        f"opened {IDLE_SUBSCRIPTIONS:,} subscriptions in {opened:.1f} s"
        f" ({IDLE_SUBSCRIPTIONS / opened:,.0f}/s); node RSS {rss_before:.0f} -> {rss_with:.0f} MiB;"
        f" single-append p95 {without.p95 * 1000:.2f} -> {with_subs.p95 * 1000:.2f} ms"
        f" = {p95_ratio:.2f}x (target <= 2x: {verdict})"
    )
    for subscription in subscriptions:
        subscription.stop()
    for client in clients:
        client.close()
    writer.close()
    return [without, with_subs]


if __name__ == "__main__":
    sys.exit(main())
