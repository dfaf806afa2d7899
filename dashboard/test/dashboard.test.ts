// The dashboard in a real browser against a live server: what it shows,
// that new records appear without a reload, that streams resume after a
// restart, the token prompt, and https.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { consoleErrors, launch, missingBrowser, waitForData, waitForStreams } from "./browser";
import {
  DIVERSITIES,
  budgetCount,
  grpc,
  recordSnapshot,
  seedJobs,
  seedPatterns,
  seedSnapshots,
  snapshotCount,
} from "./seed";
import { Server, cli } from "./server";

const SCREENSHOTS = process.env.DASHBOARD_SCREENSHOTS ?? "dashboard/test-output";
const TOKEN = "dashboard-test-token-0123456789";

// A test never passes by skipping in CI: there, a missing browser fails.
const missing = missingBrowser();
if (missing && process.env.CI === "true") {
  throw new Error(`CI=true and ${missing}`);
}
const options = { skip: missing };

const work = mkdtempSync(join(tmpdir(), "learning-dashboard-test-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** The lines of a list, as a person reads them. */
function lines(page: Page, selector: string): Promise<string[]> {
  return page.$$eval(`${selector} li`, (items) => items.map((item) => item.textContent?.trim() ?? ""));
}

describe("the dashboard of a seeded server", options, () => {
  let server: Server;
  let page: Page;
  let errors: string[];
  let close: () => Promise<void>;

  before(async () => {
    server = await Server.start({ db: join(work, "seeded.db") });
    const api = grpc(server.grpcAddress);
    await seedJobs(api);
    await seedPatterns(api);
    await seedSnapshots(api);
    const browser = await launch();
    close = browser.close;
    page = await browser.context.newPage();
    errors = consoleErrors(page);
    await page.goto(`http://127.0.0.1:${server.httpPort}/#job=job-alpha`);
    // A mark that a reload would lose.
    await page.evaluate(() => ((window as unknown as { loadedOnce: boolean }).loadedOnce = true));
  });

  after(async () => {
    await close?.();
    await server?.stop();
  });

  test("loads without console errors and follows every stream", async () => {
    const snapshots = await snapshotCount(grpc(server.grpcAddress));
    assert.equal(snapshots, DIVERSITIES.length);
    await waitForData(page, "#diversity-chart", "points", String(snapshots));
    await waitForStreams(page, "live");
    assert.equal(await page.getAttribute("body", "data-connection"), "live");
    assert.deepEqual(errors, []);
  });

  test("marks the snapshots below the alert threshold", async () => {
    const below = DIVERSITIES.filter((d) => d < 0.5).length;
    await waitForData(page, "#diversity-summary", "below", String(below));
    assert.match(await page.textContent("#diversity-summary") ?? "", /12 snapshots, 4 below the threshold 0\.5/);
  });

  test("shows the pattern population, largest first, quarantined marked", async () => {
    await waitForData(page, "#population-list", "patterns", "6");
    const rows = await lines(page, "#population-list");
    assert.equal(rows.length, 5, rows.join("\n"));
    assert.match(rows[0], /^retry \/ backoff.*60\.0% \(9\)$/);
    assert.match(rows[1], /^retry \/ jitter.*20\.0% \(3\)$/);
    assert.match(rows[2], /^route \/ fallback ⊘ quarantined.*13\.3% \(2\)$/);
    assert.match(rows[3], /^cache \/ warm.*6\.7% \(1\)$/);
    // legacy / stale was sent back to pending by the first response.
    assert.match(rows[4], /2 known patterns never applied \(0 quarantined\)/);
    const quarantined = await page.$$eval("#population-list li.quarantined", (items) => items.length);
    assert.equal(quarantined, 1);
  });

  test("prints the CLI's advisory lines for the population", async () => {
    const printed = (await cli(server, ["entropy", "--threshold", "0.5"]))
      .split("\n")
      .filter((line) => /^(warning|note|info|ok): /.test(line));
    assert.ok(printed.length > 0, "the CLI printed no advisory line for this population");
    await page.waitForFunction(() => document.querySelectorAll("#entropy-advisories li").length > 0);
    const shown = (await lines(page, "#entropy-advisories")).map((line) => line.replace(/^\S+ /, ""));
    assert.deepEqual(shown, printed);
  });

  test("shows the chosen job's budget records, responses, statistics and advisory", async () => {
    const api = grpc(server.grpcAddress);
    const records = await budgetCount(api, "job-alpha");
    assert.ok(records >= 6, `job-alpha has ${records} budget records`);
    await waitForData(page, "#budget-chart", "points", String(records));
    await waitForData(page, "#responses-list", "count", "2");
    const options = await page.$$eval("#job-picker option", (items) => items.map((i) => i.textContent));
    assert.deepEqual(options, ["job-alpha", "job-beta"]);
    await page.waitForFunction(
      (count) => document.querySelector("#budget-stats dd")?.textContent === String(count),
      records,
    );
    const printed = (await cli(server, ["budget", "--job", "job-alpha"])).trim().split("\n").at(-1);
    const shown = (await lines(page, "#budget-advisories")).map((line) => line.replace(/^\S+ /, ""));
    assert.deepEqual(shown, [printed]);
    // Newest first: the second response found the budget at its ceiling and nothing quarantined.
    const responses = await lines(page, "#responses-list");
    assert.match(responses[0], /^– .*entropy 0\.080 below 0\.300; actions: none; budget boosted: no; revisited: 0$/);
    assert.match(
      responses[1],
      /^B\+R .*entropy 0\.120 below 0\.300; actions: budget_boost, quarantine_revisit; budget boosted: yes; revisited: 1 \([0-9a-f-]{36}\)$/,
    );
  });

  test("new records appear without a reload", async () => {
    const api = grpc(server.grpcAddress);
    await recordSnapshot(api, 0.2);
    await waitForData(page, "#diversity-chart", "points", String(DIVERSITIES.length + 1));
    await waitForData(page, "#diversity-summary", "below", "5");
    const records = await budgetCount(api, "job-alpha");
    await api.budget.calculateBudgetAdjustment({ jobHash: "job-alpha", currentEntropy: 0.6 });
    await waitForData(page, "#budget-chart", "points", String(records + 1));
    await api.entropy.triggerEntropyResponse({
      trigger: { jobHash: "job-alpha", entropyAtTrigger: 0.1, thresholdUsed: 0.3 },
      config: { revisitQuarantine: false },
    });
    await waitForData(page, "#responses-list", "count", "3");
    // The response boosted the budget: its record arrives too, and the statistics follow.
    const now = await budgetCount(api, "job-alpha");
    assert.equal(now, records + 2);
    await waitForData(page, "#budget-chart", "points", String(now));
    await page.waitForFunction(
      (count) => document.querySelector("#budget-stats dd")?.textContent === String(count),
      now,
    );
    assert.equal(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce), true);
    assert.deepEqual(errors, []);
  });

  test("writes screenshots at desktop and phone sizes", async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SCREENSHOTS, "dashboard-desktop.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    // The charts follow their containers (a ResizeObserver): nothing is wider than the phone.
    try {
      await page.waitForFunction(() => document.documentElement.scrollWidth <= 390, undefined, { timeout: 5_000 });
    } catch {
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.fail(`the page is ${width}px wide on a 390px phone`);
    }
    await page.screenshot({ path: join(SCREENSHOTS, "dashboard-phone.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test("another job is picked from the list", async () => {
    const records = await budgetCount(grpc(server.grpcAddress), "job-beta");
    await page.selectOption("#job-picker", "job-beta");
    await waitForData(page, "#budget-chart", "points", String(records));
    await waitForData(page, "#responses-list", "count", "0");
    assert.equal(await page.textContent("#job-name"), "job-beta");
    assert.match(page.url(), /#job=job-beta$/);
  });

  test("resumes every stream after the server restarts, missing and repeating nothing", async () => {
    const before = await snapshotCount(grpc(server.grpcAddress));
    const budgetBefore = await budgetCount(grpc(server.grpcAddress), "job-beta");
    await server.stop();
    await waitForData(page, "body", "connection", "retrying");
    server = await server.restart();
    const api = grpc(server.grpcAddress);
    // Recorded while the page may still be waiting to reconnect: it must
    // arrive through the resumed stream, once.
    await recordSnapshot(api, 0.7);
    await api.budget.calculateBudgetAdjustment({ jobHash: "job-beta", currentEntropy: 0.5 });
    await waitForStreams(page, "live");
    await waitForData(page, "#diversity-chart", "points", String(before + 1));
    await waitForData(page, "#budget-chart", "points", String(budgetBefore + 1));
    await recordSnapshot(api, 0.75);
    await waitForData(page, "#diversity-chart", "points", String(before + 2));
    assert.equal(await snapshotCount(api), before + 2);
    assert.equal(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce), true);
    // While the server was away, the browser logged the refused connections; nothing else.
    const unexpected = errors.filter((e) => !/net::ERR_CONNECTION_REFUSED|Failed to load resource/.test(e));
    assert.deepEqual(unexpected, []);
  });

  test("stops, and says so, when the server no longer has the stream's position", async () => {
    await server.stop();
    await waitForData(page, "body", "connection", "retrying");
    // Another, empty database behind the same ports: the cursors point past its end.
    server = await Server.start({ db: join(work, "replaced.db"), grpcPort: server.grpcPort, httpPort: server.httpPort });
    await waitForStreams(page, "stopped");
    assert.equal(await page.getAttribute("body", "data-connection"), "stopped");
    const streams = await page.$$eval("#streams li[data-stream]", (items) => items.map((item) => item.textContent ?? ""));
    assert.equal(streams.length, 3, streams.join("\n"));
    for (const line of streams) {
      assert.match(line, /stopped \(OUT_OF_RANGE: after_cursor: .*\); reload the page to follow from now$/);
    }
    // Nothing from the other database is drawn over the old data.
    assert.equal(await page.getAttribute("#diversity-chart", "data-points"), String(DIVERSITIES.length + 3));
  });
});

describe("a server with tokens", options, () => {
  let server: Server;
  let close: () => Promise<void>;
  let page: Page;
  const grpcRequests: string[] = [];

  before(async () => {
    const tokens = join(work, "tokens.txt");
    writeFileSync(tokens, `# dashboard test\n${TOKEN}\n`);
    server = await Server.start({ db: join(work, "tokens.db"), extraArgs: ["--auth-token-file", tokens] });
    const api = grpc(server.grpcAddress, { token: TOKEN });
    await recordSnapshot(api, 0.4);
    await recordSnapshot(api, 0.6);
    // A population that has converged: one pattern has nearly every application.
    for (const [name, applications] of [["dominant", 20], ["rare", 1]] as const) {
      const { pattern } = await api.patterns.recordPattern({ patternType: "route", patternName: name });
      for (let i = 0; i < applications; i++) {
        await api.patterns.recordPatternApplication({ patternId: pattern?.id ?? "", executionId: `exec-${i}` });
      }
    }
    const browser = await launch();
    close = browser.close;
    page = await browser.context.newPage();
    page.on("request", (request) => {
      if (request.url().includes(`:${server.grpcPort}/`)) grpcRequests.push(request.url());
    });
    await page.goto(`http://127.0.0.1:${server.httpPort}/`);
  });

  after(async () => {
    await close?.();
    await server?.stop();
  });

  test("without a token, the page asks for one and shows no data", async () => {
    await page.waitForSelector("#token-panel", { state: "visible" });
    assert.equal(await page.isHidden("#data"), true);
    assert.equal(await page.getAttribute("#diversity-chart", "data-points"), "0");
    assert.deepEqual(grpcRequests, []);
  });

  test("a wrong token is refused and asked for again", async () => {
    await page.fill("#token-input", "not-the-token-0123456789");
    await page.click("#token-panel button");
    await page.waitForSelector("#token-panel .refused", { state: "visible" });
    assert.match(await page.textContent("#token-panel .refused") ?? "", /the bearer token is not valid/);
    assert.equal(await page.isHidden("#data"), true);
  });

  test("with the token, the data comes through gRPC-Web", async () => {
    await page.fill("#token-input", TOKEN);
    await page.click("#token-panel button");
    await waitForData(page, "#diversity-chart", "points", "2");
    await waitForData(page, "body", "connection", "live");
    assert.ok(grpcRequests.length > 0);
    // The CLI's verdict on a converged population, word for word.
    const printed = (await cli(server, ["entropy", "--threshold", "0.5"], { LEARNING_TOKEN: TOKEN }))
      .split("\n")
      .filter((line) => line.startsWith("warning: "));
    assert.equal(printed.length, 2, printed.join("\n"));
    assert.match(printed[0], /pattern selection is converging$/);
    await page.waitForFunction(() => document.querySelectorAll("#entropy-advisories li").length === 2);
    const shown = (await lines(page, "#entropy-advisories")).map((line) => line.replace(/^\S+ /, ""));
    assert.deepEqual(shown, printed);
    // Asked once: a reload keeps the token of this tab.
    await page.reload();
    await waitForData(page, "#diversity-chart", "points", "2");
    assert.equal(await page.isHidden("#token-panel"), true);
  });
});

describe("a server with TLS and tokens", options, () => {
  let server: Server;
  let close: () => Promise<void>;
  let ca: string;

  before(async () => {
    const cert = join(work, "cert.pem");
    const key = join(work, "key.pem");
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ], { stdio: "ignore" });
    ca = readFileSync(cert, "utf8");
    const tokens = join(work, "tls-tokens.txt");
    writeFileSync(tokens, `${TOKEN}\n`);
    server = await Server.start({
      db: join(work, "tls.db"),
      extraArgs: ["--tls-cert", cert, "--tls-key", key, "--auth-token-file", tokens],
    });
    const api = grpc(server.grpcAddress, { token: TOKEN, ca });
    for (const diversity of [0.3, 0.5, 0.7]) await recordSnapshot(api, diversity);
  });

  after(async () => {
    await close?.();
    await server?.stop();
  });

  test("serves the page and gRPC-Web over https, the token still required", async () => {
    // The test's certificate is self-signed: the browser is told to accept it.
    const browser = await launch({ ignoreHTTPSErrors: true });
    close = browser.close;
    const page = await browser.context.newPage();
    const errors = consoleErrors(page);
    const response = await page.goto(`https://127.0.0.1:${server.httpPort}/`);
    assert.equal(response?.status(), 200);
    await page.waitForSelector("#token-panel", { state: "visible" });
    await page.fill("#token-input", TOKEN);
    await page.click("#token-panel button");
    await waitForData(page, "#diversity-chart", "points", "3");
    await waitForData(page, "body", "connection", "live");
    const httpsCalls = await page.evaluate(
      (port) => performance.getEntriesByType("resource").filter((e) => e.name.startsWith(`https://127.0.0.1:${port}/`)).length,
      server.grpcPort,
    );
    assert.ok(httpsCalls > 0, "no gRPC-Web call went over https");
    assert.deepEqual(errors, []);
  });
});
