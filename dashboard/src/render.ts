// Small DOM helpers: facts as a definition list, advisory lines as a list.
// Text only (textContent), so nothing from the server is parsed as markup.

import type { Advisory } from "./advisory";

/** Symbols beside the level words, so the level reads without colour too. */
const SYMBOLS: Record<Advisory["level"], string> = {
  ok: "✓",
  info: "ℹ",
  note: "•",
  warning: "⚠",
};

export function renderFacts(list: HTMLElement, facts: [string, string][]): void {
  list.replaceChildren(
    ...facts.flatMap(([label, value]) => {
      const term = document.createElement("dt");
      term.textContent = label;
      const detail = document.createElement("dd");
      detail.textContent = value;
      return [term, detail];
    }),
  );
}

export function renderAdvisories(list: HTMLElement, lines: Advisory[]): void {
  list.replaceChildren(
    ...lines.map((line) => {
      const item = document.createElement("li");
      item.className = `advisory ${line.level}`;
      item.dataset.level = line.level;
      const symbol = document.createElement("span");
      symbol.className = "symbol";
      symbol.setAttribute("aria-hidden", "true");
      symbol.textContent = SYMBOLS[line.level];
      const text = document.createElement("span");
      text.className = "text";
      // Exactly the CLI's line: "warning: ...".
      text.textContent = `${line.level}: ${line.message}`;
      item.append(symbol, " ", text);
      return item;
    }),
  );
}
