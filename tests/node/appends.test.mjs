// Appends through the Node.js client: single and batch (BatchAppend, chosen because
// ServerFeatures lists it), the plain Append path, multi-stream appends, and conflicts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  ANY,
  NO_STREAM,
  STREAM_EXISTS,
  WrongExpectedVersionError,
  jsonEvent,
} from "@kurrent/kurrentdb-client";
import { collect, startNode, uniqueStream } from "./harness.mjs";

let node;
let client;
before(async () => {
  node = await startNode();
  client = node.client();
});
after(async () => {
  await client.dispose();
  await node.stop();
});

const events = (count, type = "Tested") =>
  Array.from({ length: count }, (_, n) => jsonEvent({ type, data: { n } }));

test("the client learns the server's version and methods from ServerFeatures", async () => {
  const capabilities = await client.capabilities;
  assert.equal(capabilities.serverVersion, "25.1.0");
});

test("a single event and a batch append with expected revisions", async () => {
  const stream = uniqueStream();
  const first = await client.appendToStream(stream, events(1), { streamState: NO_STREAM });
  assert.equal(first.success, true);
  assert.equal(first.nextExpectedRevision, 0n);
  const batch = await client.appendToStream(stream, events(50), { streamState: 0n });
  assert.equal(batch.nextExpectedRevision, 50n);
  assert.ok(batch.position.commit > first.position.commit + 1n, "positions are log offsets");
  const read = await collect(client.readStream(stream));
  assert.deepEqual(
    read.map((e) => e.event.revision),
    Array.from({ length: 51 }, (_, n) => BigInt(n)),
  );
  assert.deepEqual(read[3].event.data, { n: 2 });
});

test("a wrong expected revision is a WrongExpectedVersionError on both append paths", async () => {
  const stream = uniqueStream();
  await client.appendToStream(stream, events(2), { streamState: NO_STREAM });
  await assert.rejects(
    client.appendToStream(stream, events(1), { streamState: NO_STREAM }),
    (error) => error instanceof WrongExpectedVersionError && error.actualState === 1n,
  );
  // Per-call credentials make the client use Streams.Append instead of BatchAppend.
  const credentials = { username: "admin", password: "changeit" };
  await assert.rejects(
    client.appendToStream(stream, events(1), { streamState: 5n, credentials }),
    (error) => error instanceof WrongExpectedVersionError && error.actualState === 1n,
  );
  const viaAppend = await client.appendToStream(stream, events(1), {
    streamState: STREAM_EXISTS,
    credentials,
  });
  assert.equal(viaAppend.nextExpectedRevision, 2n);
});

test("a retried append with the same event ids appends once", async () => {
  const stream = uniqueStream();
  const batch = events(3);
  const first = await client.appendToStream(stream, batch, { streamState: NO_STREAM });
  const again = await client.appendToStream(stream, batch, { streamState: NO_STREAM });
  assert.equal(again.position.commit, first.position.commit);
  assert.equal((await collect(client.readStream(stream))).length, 3);
});

test("multiStreamAppend writes several streams atomically", async () => {
  const a = uniqueStream("multi-a");
  const b = uniqueStream("multi-b");
  await client.appendToStream(b, events(1), { streamState: NO_STREAM });
  const result = await client.multiStreamAppend([
    { streamName: a, events: events(2), expectedState: NO_STREAM },
    { streamName: b, events: events(1, "Second"), expectedState: 0n },
  ]);
  assert.ok(result.position > 0n);
  assert.deepEqual(
    result.responses.map((r) => [r.streamName, r.revision]),
    [
      [a, 1n],
      [b, 1n],
    ],
  );
  await assert.rejects(
    client.multiStreamAppend([
      { streamName: uniqueStream("multi-c"), events: events(1), expectedState: ANY },
      { streamName: a, events: events(1), expectedState: NO_STREAM },
    ]),
    (error) => error instanceof WrongExpectedVersionError,
  );
  assert.equal((await collect(client.readStream(a))).length, 2);
});
