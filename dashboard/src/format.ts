// Numbers and times as the CLI writes them, in the browser's local time.

import type { Timestamp } from "@bufbuild/protobuf/wkt";

/** A fraction as a percent with one decimal: 0.15 -> "15.0%" (the CLI's `percent`). */
export function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

/** A number with `decimals` decimals, "-" when absent; 0 is "0.000", a measurement. */
export function fixed(value: number | undefined, decimals: number): string {
  return value === undefined ? "-" : value.toFixed(decimals);
}

/** Seconds since the epoch, as uPlot's time scale wants them. */
export function epochSeconds(at: Timestamp | undefined): number {
  return at ? Number(at.seconds) + at.nanos / 1e9 : 0;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** Local date and time of a timestamp; "-" when absent. */
export function localTime(at: Timestamp | undefined): string {
  return at ? dateTime.format(new Date(epochSeconds(at) * 1000)) : "-";
}

/** The browser's time zone, shown once so that "local" says which. */
export function timeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
