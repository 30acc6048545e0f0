// Stream metadata, soft delete and tombstone through the Node.js client.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  NO_STREAM,
  StreamDeletedError,
  StreamNotFoundError,
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
const revisions = async (stream) =>
  (await collect(client.readStream(stream))).map((e) => e.event.revision);

test("metadata round-trips and $maxCount truncates reads", async () => {
  const stream = uniqueStream();
  await client.appendToStream(stream, events(5), { streamState: NO_STREAM });
  await client.setStreamMetadata(stream, { maxCount: 2, custom: "kept" });
  const { metadata } = await client.getStreamMetadata(stream);
  assert.equal(metadata.maxCount, 2);
  assert.equal(metadata.custom, "kept");
  assert.deepEqual(await revisions(stream), [3n, 4n]);
});

test("metadata KurrentDB cannot read is ignored, never an error", async () => {
  const stream = uniqueStream();
  await client.appendToStream(stream, events(3), { streamState: NO_STREAM });
  // Written raw (the client validates what setStreamMetadata sends): a string $maxCount
  // makes KurrentDB read the whole metadata as empty, the valid $tb included.
  const raw = jsonEvent({ type: "$metadata", data: { $maxCount: "1", $tb: 2, other: null } });
  await client.appendToStream(`$$${stream}`, raw);
  assert.deepEqual(await revisions(stream), [0n, 1n, 2n]);
  await client.appendToStream(stream, events(1), { streamState: 2n });
  assert.deepEqual(await revisions(stream), [0n, 1n, 2n, 3n]);
});

test("a soft-deleted stream is not found; appending again continues its revisions", async () => {
  const stream = uniqueStream();
  await client.appendToStream(stream, events(2), { streamState: NO_STREAM });
  await client.deleteStream(stream);
  await assert.rejects(collect(client.readStream(stream)), StreamNotFoundError);
  await client.appendToStream(stream, events(1), { streamState: NO_STREAM });
  assert.deepEqual(await revisions(stream), [2n]);
});

test("a tombstoned stream is deleted for reads, appends and deletes", async () => {
  const stream = uniqueStream();
  await client.appendToStream(stream, events(1), { streamState: NO_STREAM });
  await client.tombstoneStream(stream);
  await assert.rejects(collect(client.readStream(stream)), StreamDeletedError);
  await assert.rejects(client.appendToStream(stream, events(1)), (error) => {
    assert.ok(error instanceof StreamDeletedError, error.constructor.name);
    assert.equal(error.streamName, stream);
    return true;
  });
  // The plain Append path: FAILED_PRECONDITION with `exception: stream-deleted`.
  const credentials = { username: "admin", password: "changeit" };
  await assert.rejects(client.appendToStream(stream, events(1), { credentials }), (error) => {
    assert.ok(error instanceof StreamDeletedError, error.constructor.name);
    assert.equal(error.streamName, stream);
    return true;
  });
  await assert.rejects(client.tombstoneStream(stream), StreamDeletedError);
  // Its metadata may still be written, as KurrentDB accepts; reading it says deleted.
  await client.setStreamMetadata(stream, { custom: "after" });
  await assert.rejects(client.getStreamMetadata(stream), StreamDeletedError);
});
