// Starts the embedded node (`python -m kurrent.embedded`) for the Node.js client tests.
// Each test file starts its own node on a free port and stops it when done, so the files can
// run in parallel. The Python interpreter is the project's .venv (or $KURRENT_PYTHON).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { KurrentDBClient } from "@kurrent/kurrentdb-client";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PYTHON = process.env.KURRENT_PYTHON ?? join(ROOT, ".venv", "bin", "python");
const READY = /^KurrentDB-compatible node listening on (.+):(\d+) \((insecure|tls)\)$/;

export async function startNode({ tls = false, args = [] } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "kurrent-node-test-"));
  const argv = ["-m", "kurrent.embedded", "--port", "0", "--data-dir", dataDir, ...args];
  if (!tls) argv.push("--insecure");
  const child = spawn(PYTHON, argv, {
    cwd: ROOT,
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let certPath = null;
  const port = await new Promise((resolvePort, reject) => {
    let buffered = "";
    const timer = setTimeout(() => reject(new Error("the node did not start in 30 s")), 30_000);
    child.on("exit", (code) => reject(new Error(`the node exited with ${code}`)));
    child.stdout.on("data", (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.startsWith("TLS certificate: ")) certPath = line.slice(17);
        const match = READY.exec(line);
        if (match) {
          clearTimeout(timer);
          resolvePort(Number(match[2]));
        }
      }
    });
  });
  const node = {
    port,
    certPath,
    url(userinfo = "admin:changeit") {
      if (!tls) return `kurrentdb://127.0.0.1:${port}?tls=false`;
      return `kurrentdb://${userinfo}@localhost:${port}?tls=true&tlsCAFile=${certPath}`;
    },
    client(userinfo) {
      return KurrentDBClient.connectionString(node.url(userinfo));
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((done) => child.once("exit", done));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return node;
}

export const uniqueStream = (prefix = "node") => `${prefix}-${randomUUID().replaceAll("-", "")}`;

export async function collect(iterable) {
  const items = [];
  for await (const item of iterable) items.push(item);
  return items;
}
