// TLS with credentials, and the error types the Node.js client derives from the node's
// status codes and `exception` trailers.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  AccessDeniedError,
  KurrentDBClient,
  NO_STREAM,
  UnknownError,
  jsonEvent,
} from "@kurrent/kurrentdb-client";
import { collect, startNode, uniqueStream } from "./harness.mjs";

let node;
before(async () => {
  node = await startNode({ tls: true });
});
after(async () => {
  await node.stop();
});

const event = () => jsonEvent({ type: "Tested", data: { ok: true } });
const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;

test("TLS with the default credentials: append, read, subscribe", async () => {
  const client = node.client();
  const stream = uniqueStream();
  await client.appendToStream(stream, [event(), event()], { streamState: NO_STREAM });
  assert.equal((await collect(client.readStream(stream))).length, 2);
  const subscription = client.subscribeToStream(stream);
  let count = 0;
  for await (const _ of subscription) if (++count === 2) break;
  await subscription.unsubscribe();
  assert.equal(count, 2);
  await client.dispose();
});

test("an anonymous append is AccessDenied (PERMISSION_DENIED with exception: access-denied)", async () => {
  const anonymous = KurrentDBClient.connectionString(
    `kurrentdb://localhost:${node.port}?tls=true&tlsCAFile=${node.certPath}`,
  );
  const credentials = undefined;
  for (const options of [{ credentials }, { streamState: NO_STREAM }]) {
    await assert.rejects(anonymous.appendToStream(uniqueStream(), event(), options), (error) => {
      assert.ok(error instanceof AccessDeniedError, `${error.constructor.name}: ${error.message}`);
      assert.notEqual(error instanceof UnknownError, true);
      return true;
    });
  }
  await anonymous.dispose();
});

test("a wrong password is refused as UNAUTHENTICATED", async () => {
  const client = node.client("admin:wrong");
  await assert.rejects(client.appendToStream(uniqueStream(), event()), (error) => {
    assert.ok(error instanceof AccessDeniedError, error.constructor.name);
    assert.equal(error.code, UNAUTHENTICATED);
    return true;
  });
  await client.dispose();
});

test("a bearer token the node does not know is refused, not taken as anonymous", async () => {
  const client = node.client();
  const credentials = { bearerToken: "not-a-token-this-node-issued" };
  await assert.rejects(
    client.appendToStream(uniqueStream(), event(), { credentials }),
    (error) => {
      assert.ok(error instanceof AccessDeniedError, error.constructor.name);
      assert.equal(error.code, UNAUTHENTICATED);
      assert.notEqual(error.code, PERMISSION_DENIED);
      return true;
    },
  );
  await client.dispose();
});
