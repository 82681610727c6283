// A typed todo-api client that is safe to retry: `createTodoClient` is openapi-fetch's client
// (every path, parameter and body typed from the contract) with a fetch that
//   - sends every create (`POST /api/{user_id}/tasks`) with an `Idempotency-Key` (a new
//     `crypto.randomUUID()` per create, unless the caller set one), and
//   - retries creates and reads (GET, HEAD) on a 503 (after its `Retry-After`) and on a
//     dropped connection (fetch's TypeError), a bounded number of times, with backoff and
//     jitter, sending a create again with the same key.
// A 503 or a lost answer does not mean a write was not made (the server may have committed it
// before the answer was lost): with the same key the retry gets the task the first attempt
// made, never a second one. Other writes (PUT, PATCH, DELETE) are not retried here: a toggle
// sent twice flips twice; retry them yourself, with `If-Match`, if that is what you want.
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema.js";

/** A task as the API renders it. */
export type Task = components["schemas"]["TaskRead"];

export interface RetryOptions {
  /** Attempts in all, the first included (default 4). */
  attempts?: number;
  /** First backoff step in ms, doubled each retry, jittered (default 200). */
  baseDelayMs?: number;
  /** Longest wait between attempts, Retry-After included; a longer Retry-After ends the retries (default 10,000). */
  maxDelayMs?: number;
}

export interface TodoClientOptions extends RetryOptions {
  baseUrl: string;
  /** The bearer token, or a function returning the current one. */
  token: string | (() => string);
  /** The fetch to send with (default: the global one). */
  fetch?: (request: Request) => Promise<Response>;
}

const CREATE_PATH = /\/api\/[^/]+\/tasks\/?$/;
const SAFE_METHODS = new Set(["GET", "HEAD"]);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Full jitter: a random wait up to the exponential step, so clients spread out. */
function backoff(retry: number, base: number, max: number): number {
  return Math.random() * Math.min(max, base * 2 ** retry);
}

/** Milliseconds a 503's `Retry-After` asks for (seconds or an HTTP date), or null. */
function retryAfterMs(response: Response): number | null {
  const value = response.headers.get("Retry-After");
  if (value === null) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

/** `send` made safe to retry (see the top of this file). */
export function retryingFetch(
  send: (request: Request) => Promise<Response>,
  { attempts = 4, baseDelayMs = 200, maxDelayMs = 10_000 }: RetryOptions = {},
): (request: Request) => Promise<Response> {
  return async (request: Request): Promise<Response> => {
    const isCreate = request.method === "POST" && CREATE_PATH.test(new URL(request.url).pathname);
    if (!isCreate && !SAFE_METHODS.has(request.method)) return send(request);
    const headers = new Headers(request.headers);
    if (isCreate && !headers.has("Idempotency-Key")) headers.set("Idempotency-Key", crypto.randomUUID());
    // Read once, so every attempt sends the same bytes with the same key.
    const body = isCreate ? await request.arrayBuffer() : null;
    const attempt = () =>
      send(new Request(request.url, { method: request.method, headers, body, signal: request.signal }));
    for (let retry = 0; ; retry++) {
      const last = retry + 1 >= attempts;
      let wait = backoff(retry, baseDelayMs, maxDelayMs);
      try {
        const response = await attempt();
        if (response.status !== 503 || last) return response;
        const asked = retryAfterMs(response);
        if (asked !== null && asked > maxDelayMs) return response; // longer than we wait
        if (asked !== null) wait = asked + Math.random() * baseDelayMs;
        await response.body?.cancel();
      } catch (error) {
        // fetch rejects with a TypeError when the connection fails or drops; an abort
        // (the caller's signal) is not retried.
        if (!(error instanceof TypeError) || last || request.signal.aborted) throw error;
      }
      await sleep(wait);
    }
  };
}

/** A typed client of the todo-api at `baseUrl` whose creates never duplicate a task. */
export function createTodoClient(options: TodoClientOptions): Client<paths> {
  const { baseUrl, token, fetch: send = (request) => globalThis.fetch(request), ...retry } = options;
  const client = createClient<paths>({ baseUrl, fetch: retryingFetch(send, retry) });
  client.use({
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${typeof token === "function" ? token() : token}`);
      return request;
    },
  });
  return client;
}

// Live updates (`GET /api/{user_id}/events`), resumed on their own: see live.ts.
export { subscribe, type LiveEvents, type LiveHandlers, type LiveKind, type SubscribeOptions } from "./live.js";
