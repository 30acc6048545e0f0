// Persistent subscriptions: the node holds no groups, but answers the client's list, info,
// replay-parked and restart calls over gRPC (ServerFeatures lists them), as KurrentDB answers
// for groups that do not exist. Unlisted, the client would fall back to HTTP on the gRPC port
// and fail with a transport error.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  AccessDeniedError,
  KurrentDBClient,
  PersistentSubscriptionDoesNotExistError,
} from "@kurrent/kurrentdb-client";
import { startNode, uniqueStream } from "./harness.mjs";

let node;
let client;
before(async () => {
  node = await startNode({ tls: true });
  client = node.client();
});
after(async () => {
  await client.dispose();
  await node.stop();
});

const doesNotExist = (streamName, groupName) => (error) => {
  assert.ok(
    error instanceof PersistentSubscriptionDoesNotExistError,
    `${error.constructor.name}: ${error.message}`,
  );
  assert.equal(error.streamName, streamName);
  assert.equal(error.groupName, groupName);
  return true;
};

test("listing every persistent subscription gives an empty list", async () => {
  assert.deepEqual(await client.listAllPersistentSubscriptions(), []);
});

test("listing the persistent subscriptions to $all says none exists, as KurrentDB does", async () => {
  await assert.rejects(client.listPersistentSubscriptionsToAll(), doesNotExist("$all", ""));
});

test("listing a stream's persistent subscriptions says none exists", async () => {
  const stream = uniqueStream();
  await assert.rejects(client.listPersistentSubscriptionsToStream(stream), doesNotExist(stream, ""));
});

test("a group's info says it does not exist, for a stream and for $all", async () => {
  const stream = uniqueStream();
  await assert.rejects(
    client.getPersistentSubscriptionToStreamInfo(stream, "group-a"),
    doesNotExist(stream, "group-a"),
  );
  await assert.rejects(
    client.getPersistentSubscriptionToAllInfo("group-b"),
    doesNotExist("$all", "group-b"),
  );
});

test("replaying a group's parked messages says it does not exist", async () => {
  const stream = uniqueStream();
  await assert.rejects(
    client.replayParkedMessagesToStream(stream, "group-c", { stopAt: 10 }),
    doesNotExist(stream, "group-c"),
  );
  await assert.rejects(
    client.replayParkedMessagesToAll("group-d"),
    doesNotExist("$all", "group-d"),
  );
});

test("restarting the persistent subscription subsystem succeeds", async () => {
  assert.equal(await client.restartPersistentSubscriptionSubsystem(), undefined);
});

test("anonymous calls are refused as KurrentDB refuses them", async () => {
  const anonymous = KurrentDBClient.connectionString(
    `kurrentdb://localhost:${node.port}?tls=true&tlsCAFile=${node.certPath}`,
  );
  try {
    await assert.rejects(anonymous.listAllPersistentSubscriptions(), AccessDeniedError);
  } finally {
    await anonymous.dispose();
  }
});
