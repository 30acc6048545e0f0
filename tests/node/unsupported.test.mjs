// What the node does not offer fails at once and says so: ServerFeatures does not list it, so the
// client refuses (UnsupportedError) or, where it calls anyway, the node answers UNIMPLEMENTED.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  UnsupportedError,
  persistentSubscriptionToAllSettingsFromDefaults,
  persistentSubscriptionToStreamSettingsFromDefaults,
} from "@kurrent/kurrentdb-client";
import { startNode, uniqueStream } from "./harness.mjs";

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

const UNIMPLEMENTED = 12;

test("a persistent subscription to a stream is refused with UNIMPLEMENTED at once", async () => {
  const started = Date.now();
  await assert.rejects(
    client.createPersistentSubscriptionToStream(
      uniqueStream(),
      "group",
      persistentSubscriptionToStreamSettingsFromDefaults(),
    ),
    (error) => {
      assert.equal(error.code, UNIMPLEMENTED, `${error.constructor.name}: ${error.message}`);
      assert.match(error.message, /not supported by the embedded node/);
      return true;
    },
  );
  assert.ok(Date.now() - started < 5000);
});

test("a persistent subscription to $all is refused by the client, from ServerFeatures", async () => {
  await assert.rejects(
    client.createPersistentSubscriptionToAll(
      "group",
      persistentSubscriptionToAllSettingsFromDefaults(),
    ),
    UnsupportedError,
  );
});

test("appendRecords (server 26.1+) is refused by the client, from ServerFeatures", async () => {
  await assert.rejects(client.appendRecords([], []), UnsupportedError);
});
