#!/usr/bin/env python
"""Benchmark of stream records: services against raw appends, search, catch-up, rebuild.

    .venv/bin/python bench/records.py [--records 100000] [--writes 300] [--queries 300]
                                      [--only writes projector search]

What it measures, all against one embedded node running in its own process (as in
production, the app and KurrentDB do not share an interpreter):

1. create and update through kurrent.services.records (validation, permission check,
   append with expected version, the inline catch-up of the read model to the append),
   median and p95, beside a raw kurrentdbclient append of the same event (same type, data
   and metadata) to the same node in the same run, interleaved; the ratio of medians (no
   target: the user-facing figure is bench/http.py's create p95);
2. projector catch-up over N records (one StreamCreated each) in events per second
   (target: at least 5,000);
3. rebuild of those N events (tables emptied, replayed from the start; target: 100,000
   in at most 30 s);
4. full-text search p95 over the N records (target: at most 30 ms), as a non-admin who
   sees public records and their own; queries are 1-2 words of varying frequency; then,
   outside that mix, 1-2 letter prefixes and pages 10-50.

The read model is a fresh SQLite file, or PostgreSQL when DATABASE_URL is set (the
bench then creates and drops a database of its own next to it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on sys.path, where bench/http.py would shadow the
# standard library's http package: look in the project instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

_WORDS_TEXT = (
    "penguin emperor adelie gentoo chinstrap colony krill ice floe molt chick egg nest "
    "huddle blizzard ocean current diving swimmer fish squid predator seal orca skua "
    "census survey tagging satellite tracker migration breeding season summer winter "
    "antarctic peninsula island shore rookery beach cliff snow wind temperature salinity "
    "plankton algae bloom feeding forage dive depth pressure oxygen heart rate flipper "
    "feather plumage beak crest yellow orange black white grey juvenile adult elder "
    "researcher station vessel expedition camera drone photo video report dataset "
    "measurement weight height length width volume count estimate trend decline growth"
)
WORDS = _WORDS_TEXT.split()
RARE = [f"{w}{n}" for w in ("alpha", "bravo", "delta", "sierra", "tango") for n in range(400)]
TAGS = [f"tag-{n}" for n in range(60)]


def _setup_django(tmp: Path) -> str:
    os.environ["DEBUG"] = "false"  # no query log: measure what production runs
    os.environ.setdefault("SECRET_KEY", uuid.uuid4().hex * 2)
    os.environ["DATA_DIR"] = str(tmp)
    os.environ["KURRENTDB_ENVIRONMENT"] = "dev"
    db_label = "SQLite"
    pg = os.environ.get("DATABASE_URL", "")
    if pg.startswith("postgres"):
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:8]}"
        base = pg.rsplit("/", 1)[0]
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        os.environ["DATABASE_URL"] = f"{base}/{name}"
        os.environ["BENCH_DROP_DB"] = pg + "|" + name
        db_label = "PostgreSQL"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penguinpool.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return db_label


def _drop_db() -> None:
    spec = os.environ.get("BENCH_DROP_DB")
    if not spec or os.environ.get("BENCH_KEEP_DB"):  # keep it to look at query plans
        return
    import psycopg
    from django.db import connections

    connections.close_all()
    url, name = spec.split("|")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def _line(label: str, samples: list[float], base: list[float] | None = None) -> str:
    median, p95 = _stats(samples)
    text = f"  {label:<34} median {median * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms"
    if base is not None:
        text += f"   ratio {median / _stats(base)[0]:4.2f}x raw"
    return text


def _text(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    if rng.random() < 0.3:
        words.append(rng.choice(RARE))
    return " ".join(words)


def _record_payload(rng: random.Random) -> tuple[str, dict, list[str]]:
    name = f"{_text(rng, 2)} {rng.randrange(10**6)}"
    data = {
        "summary": _text(rng, 12),
        "site": {"name": _text(rng, 2), "notes": [_text(rng, 5), _text(rng, 5)]},
        "count": rng.randrange(1000),
    }
    tags = rng.sample(TAGS, rng.randrange(0, 4))
    return name, data, tags


def bench_writes(users: dict, client, writes: int, rng: random.Random) -> None:
    from kurrentdbclient import NewEvent, StreamState

    from kurrent.core.events import StreamCreated, StreamUpdated, encode, record_stream
    from kurrent.services import records

    alice = users["alice"]
    raw_create, svc_create, raw_update, svc_update = [], [], [], []
    created = []
    for i in range(writes + 20):
        name, data, tags = _record_payload(rng)
        # raw: the same event (type, data, metadata) appended to a fresh stream
        record_id = str(uuid.uuid4())
        event = StreamCreated(
            record_id=record_id,
            name=name,
            data=data,
            tags=tags,
            owner_id=alice.pk,
            owner=alice.username,
            is_public=True,
            metadata={},
        )
        new = encode(event, stream=record_stream(record_id), actor=alice, idempotency_key=None)
        new = NewEvent(type=new.type, data=new.data, metadata=new.metadata, id=uuid.uuid4())
        started = time.perf_counter()
        client.append_to_stream(
            record_stream(record_id), events=new, current_version=StreamState.NO_STREAM
        )
        raw = time.perf_counter() - started
        started = time.perf_counter()
        record = records.create_record(
            alice, name=name, data=data, tags=tags, is_public=True, idempotency_key=f"c{i}"
        )
        svc = time.perf_counter() - started
        if i >= 20:  # warm-up
            raw_create.append(raw)
            svc_create.append(svc)
        created.append((record, record_id))
    for i, (record, raw_id) in enumerate(created):
        name, data, tags = _record_payload(rng)
        event = StreamUpdated(record_id=raw_id, changes={"name": name, "data": data})
        new = encode(event, stream=record_stream(raw_id), actor=alice, idempotency_key=None)
        started = time.perf_counter()
        client.append_to_stream(record_stream(raw_id), events=new, current_version=0)
        raw = time.perf_counter() - started
        started = time.perf_counter()
        records.update_record(
            alice,
            record.id,
            expected_version=record.version,
            name=name,
            data=data,
            idempotency_key=f"u{i}",
        )
        svc = time.perf_counter() - started
        if i >= 20:
            raw_update.append(raw)
            svc_update.append(svc)
    print(f"writes ({writes} each, interleaved with raw appends of the same event):")
    print(_line("raw append (create event)", raw_create))
    print(_line("records.create_record", svc_create, raw_create))
    print(_line("raw append (update event)", raw_update))
    print(_line("records.update_record", svc_update, raw_update))


def load_records(client, users: dict, count: int, rng: random.Random) -> None:
    """Append `count` StreamCreated events (one stream each) with multi-stream appends."""
    from kurrentdbclient import NewEvents, StreamState

    from kurrent.core.events import StreamCreated, encode, record_stream

    owners = [users["alice"], users["bob"], users["dave"]]
    batch: list = []
    started = time.perf_counter()
    for n in range(count):
        owner = owners[n % len(owners)]
        name, data, tags = _record_payload(rng)
        record_id = str(uuid.uuid4())
        event = StreamCreated(
            record_id=record_id,
            name=name,
            data=data,
            tags=tags,
            owner_id=owner.pk,
            owner=owner.username,
            is_public=rng.random() < 0.8,
            metadata={"n": n},
        )
        stream = record_stream(record_id)
        new = encode(event, stream=stream, actor=owner, idempotency_key=None)
        batch.append(
            NewEvents(stream_name=stream, events=[new], current_version=StreamState.NO_STREAM)
        )
        if len(batch) == 500:
            client.multi_append_to_stream(batch)
            batch = []
    if batch:
        client.multi_append_to_stream(batch)
    print(f"loaded {count} records into the node in {time.perf_counter() - started:.1f} s")


def bench_projector(count: int) -> None:
    from kurrent.models import StreamRecord
    from kurrent.readmodel import projector

    started = time.perf_counter()
    applied = projector.catch_up("dev")
    elapsed = time.perf_counter() - started
    print("projector:")
    print(f"  catch-up: {applied} events in {elapsed:.1f} s = {applied / elapsed:,.0f} events/s")
    before = StreamRecord.objects.count()
    started = time.perf_counter()
    replayed = projector.rebuild("dev")
    elapsed = time.perf_counter() - started
    after = StreamRecord.objects.count()
    print(f"  rebuild:  {replayed} events in {elapsed:.1f} s = {replayed / elapsed:,.0f} events/s")
    assert before == after, (before, after)


def bench_search(users: dict, queries: int, rng: random.Random) -> None:
    from kurrent.readmodel import search
    from kurrent.services import records

    bob = users["bob"]
    texts: list[tuple[str, str]] = []
    for _ in range(queries):
        kind = rng.random()
        if kind < 0.4:
            texts.append(("rare word", rng.choice(RARE)))  # a few hundred hits
        elif kind < 0.7:
            texts.append(("two common words", f"{rng.choice(WORDS)} {rng.choice(WORDS)}"))
        elif kind < 0.9:
            texts.append(("one common word", rng.choice(WORDS)))  # ~15-25% of all records
        else:
            texts.append(("4-letter prefix", rng.choice(WORDS)[:4]))  # as typed
    for _, text in texts[:10]:  # warm-up
        records.search_records(bob, text)
    samples, hits, capped = [], [], 0
    by_kind: dict[str, list[float]] = {}
    for kind, text in texts:
        started = time.perf_counter()
        page = records.search_records(bob, text, page=rng.choice((1, 1, 1, 2, 5)))
        elapsed = time.perf_counter() - started
        samples.append(elapsed)
        by_kind.setdefault(kind, []).append(elapsed)
        hits.append(page.total)
        capped += not page.total_exact
    tagged = []
    for _ in range(min(100, queries)):
        started = time.perf_counter()
        records.search_records(bob, rng.choice(WORDS), tags=[rng.choice(TAGS)])
        tagged.append(time.perf_counter() - started)
    listed = []
    for _ in range(min(100, queries)):
        started = time.perf_counter()
        records.list_records(bob, tags=[rng.choice(TAGS)], page=rng.choice((1, 2, 10)))
        listed.append(time.perf_counter() - started)
    # Not in the mix above (which stays comparable between runs): what typing starts with,
    # and paging on far; an RNG of their own, so the lines above and below do not move.
    other = random.Random(rng.random())
    first_letters = [other.choice(WORDS)[: other.choice((1, 2))] for _ in range(30)]
    far = [" ".join(other.sample(WORDS, other.choice((1, 2)))) for _ in range(30)]
    short = _timed(lambda text: records.search_records(bob, text), first_letters)
    deep = _timed(lambda text: records.search_records(bob, text, page=other.randint(10, 50)), far)
    # What people type (issue 14): a word typed past its stem ("breedin"), an id's first
    # 8 digits, a number inside data, the owner in another case, two tags at once.
    from kurrent.models import StreamRecord

    long_words = [w for w in WORDS if len(w) >= 7]
    past_stem = [other.choice(long_words)[: other.randint(5, 7)] for _ in range(30)]
    pks = list(StreamRecord.objects.values_list("record_id", flat=True)[:2000])
    ids = [str(other.choice(pks))[:8] for _ in range(30)]
    numbers = [str(other.randrange(1000)) for _ in range(30)]
    typed = _timed(lambda text: records.search_records(bob, text), past_stem)
    by_id = _timed(lambda text: records.search_records(bob, text), ids)
    by_number = _timed(lambda text: records.search_records(bob, text), numbers)
    by_owner = _timed(
        lambda text: records.search_records(bob, text, owner="ALICE"),
        [other.choice(WORDS) for _ in range(30)],
    )
    two_tags = _timed(
        lambda text: records.search_records(bob, text, tags=other.sample(TAGS, 2)),
        [other.choice(WORDS) for _ in range(30)],
    )
    print(
        f"search over the records ({queries} queries, median {statistics.median(hits):.0f} hits; "
        f"totals counted up to {search.CAP}, {capped} beyond):"
    )
    print(_line("search_records (all queries)", samples))
    for kind, values in sorted(by_kind.items()):
        print(_line(f"  {kind} ({len(values)})", values))
    print(_line("search_records + tag filter", tagged))
    print(_line("list_records by tag", listed))
    print(_line("  1-2 letters, as typed (30)", short))
    print(_line("  1-2 words, page 10-50 (30)", deep))
    print(_line("  typed past the stem (30)", typed))
    print(_line("  an id's first 8 digits (30)", by_id))
    print(_line("  a number inside data (30)", by_number))
    print(_line("  owner in another case (30)", by_owner))
    print(_line("  two tags at once (30)", two_tags))


def _timed(call: Callable[[str], object], arguments: list[str]) -> list[float]:
    samples = []
    for argument in arguments:
        started = time.perf_counter()
        call(argument)
        samples.append(time.perf_counter() - started)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--only",
        nargs="*",
        choices=("writes", "projector", "search"),
        help="run only these parts (search and projector load the records first)",
    )
    args = parser.parse_args()
    parts = set(args.only or ("writes", "projector", "search"))
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="bench-records-") as tmp:
        from kurrent.embedded import NodeProcess

        node = NodeProcess(db=str(Path(tmp) / "node.sqlite3"), insecure=True).start()
        os.environ["KURRENTDB_DEV_URL"] = node.url
        try:
            label = _setup_django(Path(tmp))
            from django.contrib.auth.models import Group, User
            from kurrentdbclient import KurrentDBClient

            editors, _ = Group.objects.get_or_create(name="editor")
            users = {}
            for name in ("alice", "bob", "dave"):
                users[name] = User.objects.create_user(name, password=uuid.uuid4().hex)
                users[name].groups.add(editors)
            client = KurrentDBClient(uri=node.url)
            print(
                f"read model: {label}; node: embedded, separate process; python {sys.version.split()[0]}"
            )
            if "writes" in parts:
                bench_writes(users, client, args.writes, rng)
            if parts & {"projector", "search"}:
                load_records(client, users, args.records, rng)
                if "projector" in parts:
                    bench_projector(args.records)
                else:
                    from kurrent.readmodel import projector

                    projector.catch_up("dev")
            if "search" in parts:
                bench_search(users, args.queries, rng)
            client.close()
            print(json.dumps({"records": args.records, "db": label}))
        finally:
            from kurrent.connection.manager import connections

            connections.reset()
            _drop_db()
            node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
