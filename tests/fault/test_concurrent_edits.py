"""Eight clients, each signed in with its own session, edit the same three records through
HTTP for a few seconds. Every accepted edit is in the record's history exactly once; every
refused one got the conflict message and is nowhere in the history."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from kurrentdbclient import KurrentDBClient

from tests.fault.conftest import ADMINS, PASSWORD
from tests.live import Browser, form_fields

RUN_SECONDS = 6.0
RECORDS = 3
CONFLICT_TEXT = "Someone changed this record while you were editing it."


@dataclass
class Client:
    browser: Browser
    number: int
    accepted: list[tuple[str, int]] = field(default_factory=list)  # (record, seq)
    refused: list[tuple[str, int]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def run(self, records: list[str], until: float) -> None:
        seq = 0
        while time.monotonic() < until:
            record = records[(seq + self.number) % len(records)]
            seq += 1
            try:
                self.edit(record, seq)
            except Exception as exc:  # noted, the test fails on it
                self.unexpected.append(f"{type(exc).__name__}: {exc}")

    def edit(self, record: str, seq: int) -> None:
        url = f"/kurrent-db-demo/records/{record}/edit/"
        page = self.browser.get(url)
        if page.status != 200:
            self.unexpected.append(f"GET edit: {page.status}")
            return
        fields = form_fields(page.text)
        response = self.browser.post(
            url,
            {
                "name": f"Shared record {record[:8]}",
                "data": json.dumps({"writer": self.number, "seq": seq}),
                "tags": "shared",
                "is_public": "on",
                "expected_version": fields["expected_version"],
                "idempotency_key": fields["idempotency_key"],
            },
        )
        if response.status == 302:
            self.accepted.append((record, seq))
        elif response.status == 409 and CONFLICT_TEXT in response.text:
            self.refused.append((record, seq))
        else:
            self.unexpected.append(f"POST edit: {response.status} {response.text[:300]!r}")


def test_eight_clients_edit_the_same_records(fault_site):
    fs = fault_site
    node = fs.start_node()
    with fs.site.gunicorn(workers=2, threads=4) as server:
        owner = Browser(server.base_url)
        owner.login(ADMINS[0], PASSWORD)
        records = []
        for n in range(RECORDS):
            response = owner.post(
                "/kurrent-db-demo/records/new/",
                {
                    "name": f"Shared record {n}",
                    "data": "{}",
                    "tags": "shared",
                    "is_public": "on",
                    "idempotency_key": f"00000000-0000-4000-8000-00000000000{n}",
                },
            )
            assert response.status == 302, response.text[:500]
            records.append(response.location.rstrip("/").rsplit("/", 1)[1])

        clients = []
        for number, name in enumerate(ADMINS):
            browser = Browser(server.base_url)
            browser.login(name, PASSWORD)
            clients.append(Client(browser, number))
        until = time.monotonic() + RUN_SECONDS
        threads = [threading.Thread(target=c.run, args=(records, until)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(RUN_SECONDS + 60)
        assert not any(t.is_alive() for t in threads)

    unexpected = [u for c in clients for u in c.unexpected]
    assert not unexpected, unexpected[:10]
    accepted = {(r, c.number, s) for c in clients for r, s in c.accepted}
    refused = {(r, c.number, s) for c in clients for r, s in c.refused}
    assert accepted, "no edit was accepted"
    assert refused, "no edit conflicted: the clients did not overlap"

    client = KurrentDBClient(uri=node.url)
    try:
        in_history: dict[str, Counter] = defaultdict(Counter)
        for record in records:
            events = client.get_stream(f"pool-{record}")
            assert events[0].type == "StreamCreated"
            assert [e.stream_position for e in events] == list(range(len(events)))
            for event in events[1:]:
                assert event.type == "StreamUpdated"
                data = json.loads(event.data)["changes"]["data"]
                in_history[record][(data["writer"], data["seq"])] += 1
    finally:
        client.close()

    for record in records:
        counts = in_history[record]
        assert all(n == 1 for n in counts.values()), f"an edit appears twice in {record}"
        wanted = {(w, s) for r, w, s in accepted if r == record}
        assert set(counts) == wanted, f"history of {record} differs from the accepted edits"
        assert not {(w, s) for r, w, s in refused if r == record} & set(counts)
