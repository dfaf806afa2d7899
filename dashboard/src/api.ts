// The clients of the three services over gRPC-Web, generated from the proto
// (src/gen, by protoc-gen-es): the page uses the same API as any client.

import { type Client, type Interceptor, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { BudgetService, EntropyService, PatternService } from "./gen/learning/v1/learning_pb";

/** What the server tells the page (/config.json on the dashboard listener). */
export interface PageConfig {
  grpcPort: number;
  alertThreshold: number;
  budgetFloor: number;
  budgetCeiling: number;
  authRequired: boolean;
  version: string;
}

export async function loadConfig(): Promise<PageConfig> {
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) {
    throw new Error(`/config.json answered ${response.status}`);
  }
  return (await response.json()) as PageConfig;
}

/** The gRPC listener, on the host name this page was loaded from. */
export function apiUrl(config: PageConfig): string {
  return `${location.protocol}//${location.hostname}:${config.grpcPort}`;
}

/** How long a unary call may take; streams have no deadline. */
export const CALL_TIMEOUT_MS = 10_000;

export interface Api {
  budget: Client<typeof BudgetService>;
  entropy: Client<typeof EntropyService>;
  patterns: Client<typeof PatternService>;
}

export function createApi(baseUrl: string, token: string | undefined): Api {
  const bearer: Interceptor = (next) => (request) => {
    if (token) {
      request.header.set("authorization", `Bearer ${token}`);
    }
    return next(request);
  };
  const transport = createGrpcWebTransport({ baseUrl, interceptors: [bearer] });
  return {
    budget: createClient(BudgetService, transport),
    entropy: createClient(EntropyService, transport),
    patterns: createClient(PatternService, transport),
  };
}
