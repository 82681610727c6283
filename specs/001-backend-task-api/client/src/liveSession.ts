// The live part of the session (session.ts runs it): two `subscribe()`s of the user's stream,
// through a relay that can cut every connection and refuse new ones, so the resume is the real
// thing (a connection dropped mid-stream, writes made while no stream is open, a reconnection
// with `Last-Event-ID`), not a simulation. Then a token that expires under an open stream, and
// a cursor the server cannot resume from.
import { createHmac } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";
import type { Client } from "openapi-fetch";
import { EventStreamParser, LIVE_KINDS, subscribe, type LiveHandlers } from "./live.js";
import type { paths } from "./schema.js";

type Seen = { kind: string; id: number; task: number };

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${message}`);
}

async function until(condition: () => boolean, what: string, withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`check failed: waited ${withinMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An HS256 JWT for `user` valid `seconds` from now (what the auth server would issue). */
function shortLivedToken(user: string, secret: string, seconds: number): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub: user, iat: now, exp: now + seconds })}`;
  return `${unsigned}.${createHmac("sha256", secret).update(unsigned).digest("base64url")}`;
}

/** A TCP relay to `target` that records each request's Last-Event-ID; `cut()` drops every
 * connection and refuses new ones until `resume()`. */
async function startRelay(target: string) {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const cursors: string[] = [];
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) return void client.destroy();
    const upstream = connect(Number(port), hostname);
    for (const [socket, other] of [[client, upstream], [upstream, client]] as const) {
      sockets.add(socket);
      socket.on("error", () => other.destroy());
      socket.on("close", () => (sockets.delete(socket), other.destroy()));
    }
    client.on("data", (chunk: Buffer) => {
      const cursor = /^last-event-id: *(\S*)/im.exec(chunk.toString("latin1"));
      if (cursor?.[1] !== undefined) cursors.push(cursor[1]);
    });
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  check(address && typeof address === "object", "relay address");
  return {
    url: `http://127.0.0.1:${address.port}`,
    cursors,
    cut: () => ((refusing = true), sockets.forEach((socket) => socket.destroy())),
    resume: () => void (refusing = false),
    close: () => (sockets.forEach((socket) => socket.destroy()), server.close()),
  };
}

function recorder(seen: Seen[], statuses: string[]): LiveHandlers {
  const handlers: LiveHandlers = { status: (status, detail) => statuses.push(`${status} ${detail}`) };
  for (const kind of LIVE_KINDS) {
    const record = (data: { id: number } | { task: { id: number } }, id: number) =>
      seen.push({ kind, id, task: "task" in data ? data.task.id : data.id });
    Object.assign(handlers, { [kind]: record });
  }
  return handlers;
}

export async function liveSession(api: Client<paths>, userId: string, token: string, liveUrl: string) {
  // The parser first: chunks may split anywhere, even between "\r" and "\n".
  const parser = new EventStreamParser();
  const parsed = [..."retry: 2000\r\n\r\n: keepalive\n\nid: 7\r\nevent: task.created\ndata: {}\r\n\r\n"]
    .flatMap((character) => [...parser.feed(character)]);
  check(parsed.length === 2 && parsed[0]?.retry === 2000 && parsed[1]?.id === "7", "SSE parser");

  const user = { user_id: userId };
  const relay = await startRelay(liveUrl);
  const [seenA, seenB, statusA, statusB]: [Seen[], Seen[], string[], string[]] = [[], [], [], []];
  const options = { baseUrl: relay.url, minDelayMs: 50, maxDelayMs: 500, getToken: () => token };
  const stopA = subscribe(userId, recorder(seenA, statusA), options);
  const stopB = subscribe(userId, recorder(seenB, statusB), options);
  await until(() => [statusA, statusB].every((s) => s.some((line) => line.startsWith("open"))), "both open");

  const post = (title: string) => api.POST("/api/{user_id}/tasks", { params: { path: user }, body: { title } });
  const one = (await post("Live one")).data;
  check(one, "live: create");
  await api.PATCH("/api/{user_id}/tasks/{task_id}/complete", { params: { path: { ...user, task_id: one.id } } });
  await until(() => seenA.length === 2 && seenB.length === 2, "created and completed, on both streams");

  // Every connection dropped; these writes happen while no stream is open.
  relay.cut();
  const two = (await post("Live two")).data;
  check(two, "live: create while disconnected");
  const path = { path: { ...user, task_id: two.id } };
  await api.PUT("/api/{user_id}/tasks/{task_id}", { params: path, body: { title: "Live two, renamed" } });
  await api.DELETE("/api/{user_id}/tasks/{task_id}", { params: { path: { ...user, task_id: one.id } } });
  await new Promise((resolve) => setTimeout(resolve, 300)); // reconnections fail meanwhile
  relay.resume();
  await until(() => seenA.length === 5 && seenB.length === 5, "the missed events, after the reconnection");
  const first = seenA[0]?.id ?? 0;
  const expected = [
    { kind: "task.created", id: first, task: one.id },
    { kind: "task.completed", id: first + 1, task: one.id },
    { kind: "task.created", id: first + 2, task: two.id },
    { kind: "task.updated", id: first + 3, task: two.id },
    { kind: "task.deleted", id: first + 4, task: one.id },
  ];
  for (const seen of [seenA, seenB]) check(JSON.stringify(seen) === JSON.stringify(expected), `resume: ${JSON.stringify(seen)}`);
  check(relay.cursors.includes(String(first + 1)), `reconnected with Last-Event-ID: ${relay.cursors}`);

  // D starts with a token that expires in 2 s (with the secret to sign one): the server ends
  // its stream then with `token-expired`; D asks for a fresh token and carries on, resuming.
  const secret = process.env.TODO_API_SECRET;
  const [seenD, statusD]: [Seen[], string[]] = [[], []];
  const stopD = subscribe(userId, recorder(seenD, statusD), {
    ...options,
    baseUrl: liveUrl,
    getToken: ({ refresh }) => (refresh || !secret ? token : shortLivedToken(userId, secret, 2)),
  });
  if (secret) {
    await until(() => statusD.some((line) => line.startsWith("reconnecting expired")), "token-expired", 15_000);
  }
  await until(() => statusD.filter((line) => line.startsWith("open")).length === (secret ? 2 : 1), "D open");
  const three = (await post("Live three")).data;
  check(three, "live: create after the expiry");
  await until(() => [seenA, seenB, seenD].every((seen) => seen.at(-1)?.task === three.id), "the last event");
  for (const seen of [seenA, seenB]) check(seen.length === 6 && seen[5]?.id === first + 5, `last: ${JSON.stringify(seen)}`);
  check(seenD.length === 1 && seenD[0]?.id === first + 5, `D: ${JSON.stringify(seenD)}`);

  // A cursor the server cannot resume from: `resync`, so the app reloads its list.
  let resynced = false;
  const stopC = subscribe(userId, { resync: () => (resynced = true) }, {
    ...options,
    baseUrl: liveUrl,
    getToken: () => token,
    lastEventId: first + 1000,
  });
  await until(() => resynced, "resync for a cursor ahead of the stream");

  for (const stop of [stopA, stopB, stopC, stopD]) stop();
  await until(() => statusA.at(-1) === "closed unsubscribed", "A closed");
  relay.close();
  check(statusA.every((line) => !line.includes("fatal")), `A: ${statusA}`);
}
