// Headless Chromium from Debian (/usr/bin/chromium), driven by
// playwright-core: no browser download, a fresh profile each time, and no
// network besides the local servers.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, type Page, chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** Why the browser tests cannot run here, if they cannot. */
export function missingBrowser(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install -y chromium)`;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launch(options: { ignoreHTTPSErrors?: boolean } = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "learning-dashboard-chromium-"));
  // launchPersistentContext passes the profile as --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
    viewport: { width: 1280, height: 900 },
    ignoreHTTPSErrors: options.ignoreHTTPSErrors ?? false,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Collects console errors and uncaught exceptions of a page. */
export function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
  return errors;
}

/** Waits until `selector`'s data-`key` is `value`, and says what it was otherwise. */
export async function waitForData(page: Page, selector: string, key: string, value: string, timeout = 15_000): Promise<void> {
  try {
    await page.waitForFunction(
      ([s, k, v]) => (document.querySelector(s) as HTMLElement | null)?.dataset[k] === v,
      [selector, key, value] as const,
      { timeout },
    );
  } catch (error) {
    const actual = await page.evaluate(
      ([s, k]) => (document.querySelector(s) as HTMLElement | null)?.dataset[k],
      [selector, key] as const,
    );
    throw new Error(`${selector} data-${key}: expected ${value}, still ${actual}: ${String(error)}`);
  }
}

/** Waits until the page follows `count` streams, every one in `state`. */
export async function waitForStreams(page: Page, state: string, count = 3, timeout = 20_000): Promise<void> {
  try {
    await page.waitForFunction(
      ([s, n]) => {
        const items = [...document.querySelectorAll<HTMLElement>("#streams li[data-stream]")];
        return items.length === n && items.every((item) => item.dataset.state === s);
      },
      [state, count] as const,
      { timeout },
    );
  } catch (error) {
    const text = await page.textContent("#streams");
    throw new Error(`streams not all ${state}: ${text}: ${String(error)}`);
  }
}
