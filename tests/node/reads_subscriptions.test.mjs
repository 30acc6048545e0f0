// Reads and catch-up subscriptions through the Node.js client (its reads go through the
// client's Rust add-on): a fresh log's system events, filters, checkpoints, positions.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  BACKWARDS,
  END,
  NO_STREAM,
  START,
  StreamNotFoundError,
  excludeSystemEvents,
  jsonEvent,
  streamNameFilter,
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

test("a fresh node's $all begins with system events, which the default filter hides", async () => {
  const everything = await collect(client.readAll({ fromPosition: START, maxCount: 100 }));
  assert.ok(everything.length >= 5);
  assert.ok(everything.every((e) => e.event.type.startsWith("$")));
  const user = await collect(client.readAll({ filter: excludeSystemEvents(), maxCount: 100 }));
  assert.equal(user.length, 0);
  const stream = uniqueStream();
  await client.appendToStream(stream, events(2), { streamState: NO_STREAM });
  const all = await collect(client.readAll({ fromPosition: START, maxCount: 1000 }));
  assert.ok(all.length > 2, "more events than were written");
  assert.deepEqual(
    all.slice(-2).map((e) => e.event.streamId),
    [stream, stream],
  );
});

test("stream reads: forwards, backwards, from a revision, not found", async () => {
  const stream = uniqueStream();
  await client.appendToStream(stream, events(10), { streamState: NO_STREAM });
  const forwards = await collect(client.readStream(stream, { fromRevision: 3n, maxCount: 4 }));
  assert.deepEqual(
    forwards.map((e) => e.event.revision),
    [3n, 4n, 5n, 6n],
  );
  const backwards = await collect(
    client.readStream(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 2 }),
  );
  assert.deepEqual(
    backwards.map((e) => e.event.revision),
    [9n, 8n],
  );
  await assert.rejects(
    collect(client.readStream(uniqueStream("missing"))),
    (error) => error instanceof StreamNotFoundError,
  );
});

test("reading $all from every position it returned works", async () => {
  const stream = uniqueStream();
  await client.appendToStream(stream, events(3), { streamState: NO_STREAM });
  const mine = (await collect(client.readStream(stream))).map((e) => e.event.position);
  for (const position of mine) {
    const [first] = await collect(client.readAll({ fromPosition: position, maxCount: 1 }));
    assert.equal(first.event.position.commit, position.commit);
  }
});

test("a stream subscription catches up, then receives live events", async () => {
  const stream = uniqueStream();
  await client.appendToStream(stream, events(3), { streamState: NO_STREAM });
  const subscription = client.subscribeToStream(stream, { fromRevision: START });
  const seen = [];
  let caughtUp = false;
  subscription.on("caughtUp", () => {
    caughtUp = true;
    client.appendToStream(stream, events(2, "Live"), { streamState: 2n });
  });
  for await (const resolved of subscription) {
    seen.push([resolved.event.revision, resolved.event.type]);
    if (seen.length === 5) break;
  }
  await subscription.unsubscribe();
  assert.ok(caughtUp);
  assert.deepEqual(seen, [
    [0n, "Tested"],
    [1n, "Tested"],
    [2n, "Tested"],
    [3n, "Live"],
    [4n, "Live"],
  ]);
});

test("filtered $all subscriptions: matching events and a checkpoint every 32 x multiplier", async () => {
  const prefix = uniqueStream("filtered");
  const noise = uniqueStream("noise");
  await client.appendToStream(noise, events(384), { streamState: NO_STREAM });
  await client.appendToStream(`${prefix}-x`, events(1, "Wanted"), { streamState: NO_STREAM });
  const checkpoints = [];
  const subscription = client.subscribeToAll({
    fromPosition: START,
    filter: streamNameFilter({
      prefixes: [prefix],
      checkpointInterval: 2,
      checkpointReached: (_, position) => {
        checkpoints.push(position.commit);
      },
    }),
  });
  const got = [];
  for await (const resolved of subscription) {
    got.push(resolved.event.type);
    break;
  }
  await subscription.unsubscribe();
  assert.deepEqual(got, ["Wanted"]);
  // Upstream's test: 384 events considered with multiplier 2 give about 6 checkpoints
  // (every 64); the system records at the start of the log add to what is considered.
  assert.ok(checkpoints.length >= 5 && checkpoints.length <= 8, `${checkpoints.length}`);
  const sorted = [...checkpoints].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  assert.deepEqual(checkpoints, sorted);
});
