// The job picker: the jobs found in the latest budget records and entropy
// responses (the API has no list of jobs), and the one in the address
// (#job=NAME), so a link opens a job directly.

import type { Api } from "./api";
import { CALL_TIMEOUT_MS } from "./api";

export const REFRESH_MS = 15_000;
/** Records read to find jobs: the most one page may hold. */
const SCANNED = 1000;

export class JobPicker {
  private readonly known = new Set<string>();
  private selected: string | undefined;

  constructor(
    private readonly select: HTMLSelectElement,
    private readonly api: Api,
    private readonly onSelect: (job: string) => void,
  ) {
    const fromAddress = jobInAddress();
    if (fromAddress) this.known.add(fromAddress);
    this.selected = fromAddress;
    select.addEventListener("change", () => this.choose(select.value));
  }

  /** Reads the jobs again; the first refresh selects one when none is chosen. */
  async refresh(): Promise<void> {
    const [budgets, responses] = await Promise.all([
      this.api.budget.getExplorationBudgetHistory({ limit: SCANNED }, { timeoutMs: CALL_TIMEOUT_MS }),
      this.api.entropy.getEntropyResponseHistory({ limit: SCANNED }, { timeoutMs: CALL_TIMEOUT_MS }),
    ]);
    for (const record of [...budgets.records, ...responses.records]) {
      this.known.add(record.jobHash);
    }
    this.draw();
    if (this.selected === undefined && this.known.size > 0) {
      this.choose([...this.known].sort()[0]);
    } else if (this.selected !== undefined && this.select.dataset.started !== "yes") {
      this.choose(this.selected);
    }
  }

  private choose(job: string): void {
    this.selected = job;
    this.select.value = job;
    this.select.dataset.started = "yes";
    history.replaceState(null, "", `#job=${encodeURIComponent(job)}`);
    this.onSelect(job);
  }

  private draw(): void {
    const jobs = [...this.known].sort();
    this.select.replaceChildren(
      ...jobs.map((job) => {
        const option = document.createElement("option");
        option.value = job;
        option.textContent = job;
        return option;
      }),
    );
    this.select.disabled = jobs.length === 0;
    this.select.title = jobs.length === 0 ? "no job has budget records or entropy responses yet" : "";
    if (this.selected !== undefined) this.select.value = this.selected;
  }
}

function jobInAddress(): string | undefined {
  const match = /^#job=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : undefined;
}
