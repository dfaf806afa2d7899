// The bearer token, asked once and kept in this tab only (sessionStorage):
// closing the tab forgets it. A token the server refuses is dropped and
// asked for again, with the server's reason.

const TOKEN_KEY = "learning-service.token";
const REFUSED_KEY = "learning-service.token-refused";

export function storedToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

/** Forgets the token and reloads, so that nothing read with it stays on the page. */
export function refuseToken(reason: string): void {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.setItem(REFUSED_KEY, reason);
  location.reload();
}

/** Shows the prompt and resolves with the token entered. */
export function askToken(panel: HTMLElement): Promise<string> {
  const form = panel.querySelector("form") as HTMLFormElement;
  const input = panel.querySelector("input") as HTMLInputElement;
  const message = panel.querySelector(".refused") as HTMLElement;
  const refused = sessionStorage.getItem(REFUSED_KEY);
  sessionStorage.removeItem(REFUSED_KEY);
  message.textContent = refused ? `The server refused the token: ${refused}` : "";
  message.hidden = !refused;
  panel.hidden = false;
  input.focus();
  return new Promise((resolve) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      input.value = "";
      panel.hidden = true;
      resolve(token);
    });
  });
}
