// Follows one of the three streams and resumes it after a dropped
// connection: every message carries a cursor, and a new subscription with
// `after_cursor` continues exactly after the last message received (no gap,
// no duplicate), across server restarts too.

import { Code, ConnectError } from "@connectrpc/connect";

/** First wait before reconnecting; doubled on each failure, up to the maximum. */
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5_000;

export type StreamState =
  | { kind: "connecting" }
  | { kind: "catching-up" }
  | { kind: "live" }
  | { kind: "retrying"; inMs: number; reason: string }
  | { kind: "stopped"; reason: string };

/** The shape shared by the three streams' messages. */
export interface StreamMessage {
  cursor: string;
  event: { case: string | undefined };
}

export interface FollowOptions<M extends StreamMessage, R> {
  /** Subscribes: with the cursor to resume after, or "" for the first time. */
  open: (afterCursor: string, signal: AbortSignal) => AsyncIterable<M>;
  /** The record a message carries, if it carries one. */
  record: (message: M) => R | undefined;
  onRecord: (record: R) => void;
  /** Everything recorded so far has arrived (after each (re)subscription). */
  onCaughtUp?: () => void;
  onState: (state: StreamState) => void;
  /** The token was refused: the caller asks for another. */
  onUnauthenticated: (message: string) => void;
}

/**
 * Codes that say the server or the network went away, for now: a server
 * that shuts down ends streams with UNAVAILABLE; a fetch that cannot connect
 * fails with UNKNOWN; RESOURCE_EXHAUSTED is a full subscriber table.
 */
const RETRIED = new Set([
  Code.Unavailable,
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Internal,
  Code.Aborted,
  Code.ResourceExhausted,
]);

export interface Follower {
  stop(): void;
}

export function follow<M extends StreamMessage, R>(options: FollowOptions<M, R>): Follower {
  const abort = new AbortController();
  void run(options, abort.signal);
  return { stop: () => abort.abort() };
}

async function run<M extends StreamMessage, R>(
  options: FollowOptions<M, R>,
  signal: AbortSignal,
): Promise<void> {
  let cursor = "";
  let backoff = FIRST_BACKOFF_MS;
  while (!signal.aborted) {
    options.onState({ kind: "connecting" });
    let failure: ConnectError;
    try {
      let first = true;
      for await (const message of options.open(cursor, signal)) {
        cursor = message.cursor;
        backoff = FIRST_BACKOFF_MS;
        if (first && message.event.case !== "caughtUp") {
          options.onState({ kind: "catching-up" });
        }
        first = false;
        if (message.event.case === "caughtUp") {
          options.onState({ kind: "live" });
          options.onCaughtUp?.();
          continue;
        }
        const record = options.record(message);
        if (record !== undefined) {
          options.onRecord(record);
        }
      }
      // The contract ends a stream only with a status: a bare end is a lost connection.
      failure = new ConnectError("the stream ended", Code.Unavailable);
    } catch (error) {
      failure = ConnectError.from(error);
    }
    if (signal.aborted) {
      return;
    }
    if (failure.code === Code.Unauthenticated) {
      options.onState({ kind: "stopped", reason: describe(failure) });
      options.onUnauthenticated(failure.rawMessage);
      return;
    }
    if (!RETRIED.has(failure.code)) {
      // OUT_OF_RANGE among them: the server no longer has the position,
      // and a stream never silently restarts from elsewhere.
      options.onState({ kind: "stopped", reason: describe(failure) });
      return;
    }
    options.onState({ kind: "retrying", inMs: backoff, reason: describe(failure) });
    await sleep(backoff, signal);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }
}

/** "unavailable: the stream ended", as the CLI names codes. */
export function describe(error: ConnectError): string {
  const name = Code[error.code] ?? String(error.code);
  const snake = name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
  return `${snake}: ${error.rawMessage}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
