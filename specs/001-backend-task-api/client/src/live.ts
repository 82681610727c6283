// Live updates of a user's tasks for browsers and Node: `subscribe()` follows
// `GET /api/{user_id}/events` (Server-Sent Events) and keeps following it on its own:
//   - a dropped connection, a server `shutdown` or a silent connection (no byte, not even the
//     15 s heartbeat, for `idleTimeoutMs`) reconnects after a backoff, sending the last
//     `id:` seen as `Last-Event-ID`, so the server sends exactly what was missed;
//   - `token-expired` (the stream ends when its token does) or a 401 asks the caller's
//     `getToken({ refresh: true })` for a fresh token, then reconnects the same way;
//   - `resync` (the cursor is too old to resume) calls `handlers.resync`: reload the list.
// Two transports: "fetch" (default; an `Authorization` header, and `Last-Event-ID` sent by us)
// and "eventsource" (the browser's EventSource, opened with a single-use ticket from
// `POST .../events/tickets`, because EventSource cannot send headers). A spent ticket cannot
// be replayed, so we reconnect ourselves with a fresh one, and resume exactly by passing the
// last id seen as `?last_event_id=` (a new EventSource cannot send `Last-Event-ID`).
//
// This module imports nothing at run time (only types), so a browser can load the compiled
// `dist/live.js` as it is, without a bundler.
import type { components } from "./schema.js";

type Task = components["schemas"]["TaskRead"];

/** What `task.deleted` carries: the task is gone, its id stays. */
export interface DeletedTask {
  id: number;
  user_id: string;
}

/** What `reminder.due` carries. */
export interface ReminderDue {
  task: Task;
  reminder: components["schemas"]["UpcomingReminder"]["reminder"];
  scheduled_for: string;
  fired_at: string;
}

/** Each change kind of the stream and its `data`. */
export interface LiveEvents {
  "task.created": Task;
  "task.updated": Task;
  "task.completed": Task;
  "task.reopened": Task;
  "task.deleted": DeletedTask;
  "reminder.due": ReminderDue;
}

export type LiveKind = keyof LiveEvents;
export const LIVE_KINDS: readonly LiveKind[] = [
  "task.created",
  "task.updated",
  "task.completed",
  "task.reopened",
  "task.deleted",
  "reminder.due",
];

export type LiveStatus = "connecting" | "open" | "reconnecting" | "closed";

export type LiveHandlers = {
  [K in LiveKind]?: (data: LiveEvents[K], id: number) => void;
} & {
  /** The stream could not resume where it was: reload the list, then keep applying events. */
  resync?: () => void;
  /** The connection's state, for a "live" / "reconnecting" badge; `detail` says why. */
  status?: (status: LiveStatus, detail: string) => void;
  /** A refusal no retry fixes (403, 404, 422, or a 401 with a fresh token): the subscription stops. */
  error?: (error: Error) => void;
};

export interface SubscribeOptions {
  baseUrl: string;
  /** The current token; `refresh: true` after the last one expired or was refused. */
  getToken: (request: { refresh: boolean }) => string | Promise<string>;
  /** "fetch" (default) or "eventsource" (a ticket per connection); both resume exactly. */
  transport?: "fetch" | "eventsource";
  /** Resume after this event id (one the app kept), instead of starting from now. */
  lastEventId?: number;
  /** First reconnection delay in ms, doubled per failure, jittered (default 500). */
  minDelayMs?: number;
  /** Longest reconnection delay in ms (default 30,000). */
  maxDelayMs?: number;
  /** A connection silent this long (ms) is taken as dropped (default 45,000: 3 heartbeats). */
  idleTimeoutMs?: number;
  fetch?: typeof globalThis.fetch;
}

/** How one connection ended, which decides what the next one does. */
type Outcome =
  | { kind: "dropped" | "stopped" | "expired" | "unauthorized" }
  | { kind: "retry"; afterMs: number | null }
  | { kind: "fatal"; error: Error };

class HttpRefusal extends Error {}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

/** Follow the live stream of `userId`'s tasks; returns the function that stops it. */
export function subscribe(userId: string, handlers: LiveHandlers, options: SubscribeOptions): () => void {
  const { minDelayMs = 500, maxDelayMs = 30_000, idleTimeoutMs = 45_000 } = options;
  const send = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const stop = new AbortController();
  const url = `${options.baseUrl.replace(/\/$/, "")}/api/${encodeURIComponent(userId)}/events`;
  let lastId: string | null = options.lastEventId === undefined ? null : String(options.lastEventId);
  let retryHintMs: number | null = null;

  const dispatch = (event: string, data: string, id: string | null): Outcome | null => {
    if (id !== null) lastId = id;
    if (event === "token-expired") return { kind: "expired" };
    if (event === "shutdown") return { kind: "retry", afterMs: retryHintMs };
    if (event === "resync") handlers.resync?.();
    else if ((LIVE_KINDS as readonly string[]).includes(event)) {
      const handler = handlers[event as LiveKind] as ((data: unknown, id: number) => void) | undefined;
      handler?.(JSON.parse(data), Number(id));
    }
    return null;
  };

  /** The answer to a refused request, as an outcome. */
  const refused = async (response: Response): Promise<Outcome> => {
    const detail = `${response.status}: ${(await response.text().catch(() => "")).slice(0, 300)}`;
    if (response.status === 401) return { kind: "unauthorized" };
    if (response.status === 429 || response.status >= 500) {
      const seconds = Number(response.headers.get("Retry-After"));
      return { kind: "retry", afterMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : null };
    }
    return { kind: "fatal", error: new HttpRefusal(`the live stream was refused: ${detail}`) };
  };

  /** One connection with `fetch`, read to its end; a silent one is cut after idleTimeoutMs. */
  const viaFetch = async (token: string): Promise<Outcome> => {
    const cut = new AbortController();
    const onStop = () => cut.abort();
    stop.signal.addEventListener("abort", onStop, { once: true });
    let idle = setTimeout(() => cut.abort(), idleTimeoutMs);
    try {
      const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "text/event-stream" };
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      const response = await send(url, { headers, signal: cut.signal, cache: "no-store" });
      if (!response.ok || !response.body) return await refused(response);
      handlers.status?.("open", "connected");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new EventStreamParser();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return { kind: "dropped" };
        clearTimeout(idle);
        idle = setTimeout(() => cut.abort(), idleTimeoutMs);
        for (const event of parser.feed(value)) {
          if (event.retry !== null) retryHintMs = event.retry;
          if (event.event === null) continue;
          const outcome = dispatch(event.event, event.data, event.id);
          if (outcome) {
            await reader.cancel().catch(() => undefined);
            return outcome;
          }
        }
      }
    } catch (error) {
      if (stop.signal.aborted) return { kind: "stopped" };
      return { kind: "dropped" }; // a network error, or cut for silence
    } finally {
      clearTimeout(idle);
      stop.signal.removeEventListener("abort", onStop);
    }
  };

  /** One connection with EventSource and a fresh ticket. */
  const viaEventSource = async (token: string): Promise<Outcome> => {
    const minted = await send(`${url}/tickets`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
      signal: stop.signal,
    });
    if (minted.status !== 201) return refused(minted);
    const { ticket } = (await minted.json()) as components["schemas"]["StreamTicketRead"];
    const resume = lastId === null ? "" : `&last_event_id=${encodeURIComponent(lastId)}`;
    const source = new EventSource(`${url}?ticket=${encodeURIComponent(ticket)}${resume}`);
    return new Promise<Outcome>((resolve) => {
      const finish = (outcome: Outcome) => {
        source.close();
        stop.signal.removeEventListener("abort", onStop);
        resolve(outcome);
      };
      const onStop = () => finish({ kind: "stopped" });
      stop.signal.addEventListener("abort", onStop, { once: true });
      source.onopen = () => handlers.status?.("open", "connected");
      // EventSource would reconnect by itself with the spent ticket (refused): we do it.
      source.onerror = () => finish({ kind: "dropped" });
      for (const kind of [...LIVE_KINDS, "resync", "token-expired", "shutdown"]) {
        source.addEventListener(kind, (event: MessageEvent<string>) => {
          const outcome = dispatch(kind, event.data, event.lastEventId === "" ? null : event.lastEventId);
          if (outcome) finish(outcome);
        });
      }
    });
  };

  const run = async () => {
    let failures = 0;
    let refresh = false;
    while (!stop.signal.aborted) {
      handlers.status?.(failures === 0 && !refresh ? "connecting" : "reconnecting", "");
      let outcome: Outcome;
      try {
        const token = await options.getToken({ refresh });
        outcome = await (options.transport === "eventsource" ? viaEventSource : viaFetch)(token);
      } catch (error) {
        outcome = stop.signal.aborted ? { kind: "stopped" } : { kind: "dropped" };
      }
      const refreshed = refresh;
      refresh = outcome.kind === "expired" || outcome.kind === "unauthorized";
      if (outcome.kind === "stopped") break;
      if (outcome.kind === "fatal" || (outcome.kind === "unauthorized" && refreshed)) {
        const error = outcome.kind === "fatal" ? outcome.error : new HttpRefusal("a fresh token was refused (401)");
        handlers.error?.(error);
        break;
      }
      failures = outcome.kind === "expired" ? 0 : failures + 1;
      const backoff = Math.random() * Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(failures, 16));
      const asked = outcome.kind === "retry" ? (outcome.afterMs ?? retryHintMs) : null;
      const delay = refresh ? 0 : Math.min(maxDelayMs, asked ?? backoff);
      handlers.status?.("reconnecting", `${outcome.kind}; next attempt in ${Math.round(delay)} ms`);
      await sleep(delay, stop.signal);
    }
    handlers.status?.("closed", "unsubscribed");
  };

  void run();
  return () => stop.abort();
}

/** One parsed SSE event: `event` is null for a block with no data (a `retry:` alone). */
interface ParsedEvent {
  event: string | null;
  data: string;
  id: string | null;
  retry: number | null;
}

/** The Server-Sent Events wire format (WHATWG HTML, "event stream interpretation"),
 * fed text as it arrives; yields each complete event. */
export class EventStreamParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private id: string | null = null;
  private retry: number | null = null;

  *feed(text: string): Generator<ParsedEvent> {
    this.buffer += text;
    let end: RegExpExecArray | null;
    const newline = /\r\n|\r|\n/;
    // A trailing "\r" may be the first half of "\r\n": wait for the next chunk.
    while ((end = newline.exec(this.buffer)) && !(end[0] === "\r" && end.index === this.buffer.length - 1)) {
      const line = this.buffer.slice(0, end.index);
      this.buffer = this.buffer.slice(end.index + end[0].length);
      if (line === "") {
        const retry = this.retry;
        this.retry = null;
        if (this.data.length > 0) yield { event: this.event || "message", data: this.data.join("\n"), id: this.id, retry };
        else if (retry !== null) yield { event: null, data: "", id: null, retry };
        this.data = [];
        this.event = "";
        this.id = null;
        continue;
      }
      if (line.startsWith(":")) continue; // a comment: the heartbeat
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (name === "data") this.data.push(value);
      else if (name === "event") this.event = value;
      else if (name === "id" && !value.includes("\0")) this.id = value;
      else if (name === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
    }
  }
}
