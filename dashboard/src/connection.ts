// The connection state: one line per stream (connecting, catching up, live,
// retrying, stopped) and a summary, each with a word and a symbol.

import { Code, ConnectError } from "@connectrpc/connect";
import { type StreamState, describe } from "./follow";

const SYMBOLS: Record<StreamState["kind"], string> = {
  connecting: "◌",
  "catching-up": "◔",
  live: "●",
  retrying: "↻",
  stopped: "✕",
};

interface Entry {
  label: string;
  state: StreamState;
}

export class StatusBoard {
  private readonly entries = new Map<string, Entry>();
  private lastError = "";

  constructor(
    private readonly summary: HTMLElement,
    private readonly list: HTMLElement,
  ) {}

  set(key: string, label: string, state: StreamState): void {
    this.entries.set(key, { label, state });
    this.draw();
  }

  remove(key: string): void {
    this.entries.delete(key);
    this.draw();
  }

  /** A unary call failed: UNAUTHENTICATED goes back to the token prompt, the rest is shown. */
  callFailed(error: unknown, onUnauthenticated: (message: string) => void): void {
    const failure = ConnectError.from(error);
    if (failure.code === Code.Canceled) return;
    if (failure.code === Code.Unauthenticated) {
      onUnauthenticated(failure.rawMessage);
      return;
    }
    this.lastError = `last failed call: ${describe(failure)}`;
    this.draw();
  }

  callSucceeded(): void {
    if (this.lastError) {
      this.lastError = "";
      this.draw();
    }
  }

  private draw(): void {
    const states = [...this.entries.values()].map((e) => e.state.kind);
    const overall = states.includes("stopped")
      ? "stopped"
      : states.includes("retrying")
        ? "retrying"
        : states.some((s) => s === "connecting" || s === "catching-up")
          ? "connecting"
          : states.length > 0
            ? "live"
            : "connecting";
    const words: Record<string, string> = {
      live: "Live: every stream is up to date",
      connecting: "Connecting…",
      retrying: "Connection lost: reconnecting, resuming after the last record received",
      stopped: "A stream stopped (see below)",
    };
    document.body.dataset.connection = overall;
    this.summary.textContent = `${SYMBOLS[overall as StreamState["kind"]]} ${words[overall]}`;
    this.summary.dataset.state = overall;
    const items = [...this.entries.entries()].map(([key, entry]) => {
      const item = document.createElement("li");
      item.dataset.stream = key;
      item.dataset.state = entry.state.kind;
      item.textContent = `${SYMBOLS[entry.state.kind]} ${entry.label}: ${stateText(entry.state)}`;
      return item;
    });
    if (this.lastError) {
      const item = document.createElement("li");
      item.dataset.state = "error";
      item.textContent = `✕ ${this.lastError}`;
      items.push(item);
    }
    this.list.replaceChildren(...items);
  }
}

function stateText(state: StreamState): string {
  switch (state.kind) {
    case "connecting":
      return "connecting";
    case "catching-up":
      return "receiving the backlog";
    case "live":
      return "live";
    case "retrying":
      return `reconnecting in ${(state.inMs / 1000).toFixed(1)} s (${state.reason})`;
    case "stopped":
      // The server no longer has the position: only a new subscription, from now, can follow.
      return state.reason.startsWith("OUT_OF_RANGE")
        ? `stopped (${state.reason}); reload the page to follow from now`
        : `stopped (${state.reason})`;
  }
}
