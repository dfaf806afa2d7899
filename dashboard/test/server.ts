// A live learning-service for the browser tests: the real binary on a
// temporary SQLite file, on ports the system picks (127.0.0.1:0) or on the
// ports of a previous run (to restart it in place).

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export const BINARY = process.env.LEARNING_SERVICE_BIN ?? "target/debug/learning-service";

export interface ServerOptions {
  db: string;
  /** 0: a free port. */
  grpcPort?: number;
  httpPort?: number;
  extraArgs?: string[];
}

export class Server {
  private exited: Promise<number | null>;
  private log = "";

  private constructor(
    private readonly child: ChildProcess,
    readonly options: ServerOptions,
    readonly grpcPort: number,
    readonly httpPort: number,
    log: string,
    exited: Promise<number | null>,
  ) {
    this.log = log;
    this.exited = exited;
    child.stderr?.on("data", (chunk: Buffer) => {
      this.log += chunk.toString();
    });
  }

  /** Starts the server and waits until both listeners are up. */
  static async start(options: ServerOptions): Promise<Server> {
    const args = [
      "serve",
      "--db",
      options.db,
      "--listen",
      `127.0.0.1:${options.grpcPort ?? 0}`,
      "--http-listen",
      `127.0.0.1:${options.httpPort ?? 0}`,
      // Streams say they are alive often, so a dead connection shows quickly.
      "--stream-progress-interval",
      "1s",
      ...(options.extraArgs ?? []),
    ];
    const child = spawn(BINARY, args, {
      env: { ...process.env, NO_COLOR: "1", LEARNING_LOG: "info" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    let log = "";
    const ports = await new Promise<[number, number]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not start in 30 s:\n${log}`)), 30_000);
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        const grpc = /serving learning\.v1 address=127\.0\.0\.1:(\d+)/.exec(log);
        const http = /serving the dashboard address=127\.0\.0\.1:(\d+)/.exec(log);
        if (grpc && http) {
          clearTimeout(timer);
          child.stderr?.off("data", onData);
          resolve([Number(grpc[1]), Number(http[1])]);
        }
      };
      child.stderr?.on("data", onData);
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`the server exited with ${code} before it served:\n${log}`));
      });
    });
    return new Server(child, options, ports[0], ports[1], log, exited);
  }

  /** Starts it again on the same file and ports. */
  restart(): Promise<Server> {
    return Server.start({ ...this.options, grpcPort: this.grpcPort, httpPort: this.httpPort });
  }

  get grpcAddress(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  /** SIGTERM, as an operator stops it; it must exit 0. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill("SIGTERM");
    const code = await this.exited;
    if (code !== 0) {
      throw new Error(`the server exited with ${code}:\n${this.log}`);
    }
  }

  get output(): string {
    return this.log;
  }
}

/** Runs a CLI command of the same binary against `server`; its standard output. */
export async function cli(server: Server, args: string[], extraEnv: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run(BINARY, [...args, "--server", server.grpcAddress], {
    env: { ...process.env, NO_COLOR: "1", ...extraEnv },
  });
  return stdout;
}
