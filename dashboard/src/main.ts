// The dashboard: diversity over time, the pattern population, and one job's
// budget and entropy responses, all read through gRPC-Web from the API.

import { type PageConfig, apiUrl, createApi, loadConfig } from "./api";
import { StatusBoard } from "./connection";
import { DiversityPanel } from "./diversity";
import { follow } from "./follow";
import { timeZone } from "./format";
import { JobPanel } from "./job";
import { JobPicker, REFRESH_MS as JOBS_REFRESH_MS } from "./jobs";
import { PopulationPanel, REFRESH_MS as POPULATION_REFRESH_MS } from "./population";
import { askToken, refuseToken, storedToken } from "./token";
import "./style.css";

/** Snapshots the diversity stream sends first: the most the server allows. */
const BACKFILL = 1000;

function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

async function main(): Promise<void> {
  const status = new StatusBoard(element("connection"), element("streams"));
  let config: PageConfig;
  try {
    config = await loadConfig();
  } catch (error) {
    element("connection").textContent = `✕ cannot read the dashboard's settings: ${String(error)}`;
    return;
  }
  element("version").textContent = `learning-service ${config.version}`;
  element("time-zone").textContent = timeZone();
  element("threshold").textContent = String(config.alertThreshold);
  element("band").textContent = `${(config.budgetFloor * 100).toFixed(1)}% – ${(config.budgetCeiling * 100).toFixed(1)}%`;
  let token = storedToken();
  if (config.authRequired && !token) {
    element("connection").textContent = "A token is needed to read the data.";
    token = await askToken(element("token-panel"));
  }
  start(config, token, status);
}

function start(config: PageConfig, token: string | undefined, status: StatusBoard): void {
  element("data").hidden = false;
  const api = createApi(apiUrl(config), token);
  const onUnauthenticated = refuseToken;
  const diversity = new DiversityPanel(
    element("diversity-chart"),
    element("diversity-summary"),
    element("diversity-readout"),
    config.alertThreshold,
  );
  const population = new PopulationPanel(
    { list: element("population-list"), summary: element("population-summary"), advisories: element("entropy-advisories") },
    config,
    api,
    status,
    onUnauthenticated,
  );
  const job = new JobPanel(
    {
      chart: element("budget-chart"),
      readout: element("budget-readout"),
      advisories: element("budget-advisories"),
      current: element("budget-current"),
      budgetStats: element("budget-stats"),
      responseStats: element("response-stats"),
      responses: element("responses-list"),
    },
    config,
    api,
    status,
    onUnauthenticated,
    () => population.refresh(),
  );
  follow({
    open: (afterCursor, signal) =>
      api.entropy.subscribePatternEntropy({ backfill: afterCursor ? undefined : BACKFILL, afterCursor }, { signal }),
    record: (message) => (message.event.case === "snapshot" ? message.event.value : undefined),
    onRecord: (snapshot) => {
      diversity.add(snapshot);
      population.refresh();
    },
    onState: (state) => status.set("entropy", "entropy snapshots", state),
    onUnauthenticated,
  });
  const picker = new JobPicker(element<HTMLSelectElement>("job-picker"), api, (name) => {
    element("job-name").textContent = name;
    job.show(name);
  });
  const refreshJobs = () => picker.refresh().catch((error) => status.callFailed(error, onUnauthenticated));
  void refreshJobs();
  population.refresh();
  setInterval(refreshJobs, JOBS_REFRESH_MS);
  setInterval(() => population.refresh(), POPULATION_REFRESH_MS);
}

void main();
