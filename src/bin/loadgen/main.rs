//! Load generator: drives one RPC (or a mix) with C concurrent callers for D
//! seconds over loopback, and in the same run measures grpc.health.v1 Check
//! with the same callers, the ceiling to compare against. Also seeds database
//! files for the history-size runs, and writes request frames for h2load.
//! See BENCHMARKS.md.

mod cpu;
mod drive;
mod frame;
mod rpcs;
mod rss;
mod seed;

use std::{process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Fill a database file with history by direct SQL (fast, for size runs).
    Seed(seed::SeedArgs),
    /// Write one call's request as a gRPC frame, for h2load `-d` (prints its path).
    Frame(frame::FrameArgs),
}

#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Server address; several replicas comma-separated (connections are
    /// spread over them round robin).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    server: String,
    /// RPC to drive (e.g. UpdateExplorationBudget), or `mix`. `list` prints the names.
    #[arg(long, default_value = "GetExplorationBudget")]
    rpc: String,
    /// Concurrent callers.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Length of each measured phase (the Check phase and the RPC phase).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unmeasured calls before each phase, to open connections and warm caches.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Jobs the calls are spread over (`job-0` .. `job-{N-1}`), round robin.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// HTTP/2 connections the callers share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Server process whose memory (VmRSS, VmHWM) is reported after the run,
    /// and whose CPU time per call is reported beside the load generator's.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Skip the Check phase (e.g. for latency-only runs at concurrency 1).
    #[arg(long)]
    no_ceiling: bool,
    /// Free text copied into the RESULT line, to tell scenarios apart.
    #[arg(long, default_value = "")]
    label: String,
    /// CalculatePatternEntropy and CheckEntropyResponseNeeded count only
    /// applications of this last window (e.g. `1h`). Default: all time.
    #[arg(long, value_parser = humantime::parse_duration)]
    window: Option<Duration>,
    /// Calls per second of the measured RPC over all callers, paced evenly
    /// (e.g. 3000 for a background writer; the Check ceiling is not paced).
    /// Default: each caller calls back to back.
    #[arg(long)]
    rate: Option<f64>,
    /// RecordPatternApplication spreads its calls over the first N listed
    /// patterns (at most 1000), round robin.
    #[arg(long, default_value_t = 1)]
    patterns: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Seed(args)) => seed::run(&args),
        Some(Command::Frame(args)) => frame::run(&args),
        None => run(cli.run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> Result<(), String> {
    if args.rpc == "list" {
        for name in rpcs::NAMES {
            println!("{name}");
        }
        println!("mix");
        return Ok(());
    }
    let mut workload = rpcs::Workload::parse(&args.rpc, args.jobs.max(1))?.with_window(args.window);
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let channels = drive::connect(&args.server, args.connections.max(1)).await?;
        if let Some(channel) = channels.first() {
            workload.resolve(channel, args.patterns).await?;
        }
        let measure = |workload: rpcs::Workload, rate: Option<f64>| {
            let channels = &channels;
            async move {
                drive::phase(channels, &workload, args.concurrency, args.warmup, rate).await;
                let cpu = cpu::start(args.server_pid);
                let outcome =
                    drive::phase(channels, &workload, args.concurrency, args.duration, rate).await;
                let cpu = cpu.per_call(outcome.calls);
                (outcome, cpu)
            }
        };
        let ceiling = if args.no_ceiling {
            None
        } else {
            Some(measure(rpcs::Workload::check(), None).await)
        };
        let measured = measure(workload, args.rate).await;
        let memory = args.server_pid.map(rss::read);
        report(&args, &measured, ceiling.as_ref(), memory);
        Ok(())
    })
}

type Measured = (drive::Outcome, cpu::PerCall);

fn report(
    args: &RunArgs,
    (measured, cpu): &Measured,
    ceiling: Option<&Measured>,
    memory: Option<Result<rss::Memory, String>>,
) {
    println!(
        "rpc={} concurrency={} duration={:?} jobs={} connections={} {}",
        args.rpc, args.concurrency, args.duration, args.jobs, args.connections, args.label
    );
    if let Some((ceiling, ceiling_cpu)) = ceiling {
        println!("  {:<34} {}", "grpc.health.v1 Check (ceiling)", ceiling);
        println!("  {:<34} {}", "  CPU per call", ceiling_cpu.describe());
    }
    println!("  {:<34} {}", args.rpc, measured);
    println!("  {:<34} {}", "  CPU per call", cpu.describe());
    let ceiling = ceiling.map(|(outcome, _)| outcome);
    let ratio = ceiling.map(|c| 100.0 * measured.calls_per_second() / c.calls_per_second());
    if let Some(ratio) = ratio {
        println!("  ratio: {ratio:.1}% of the Check rate");
    }
    let (rss, hwm) = match &memory {
        Some(Ok(memory)) => {
            println!(
                "  server memory: VmRSS {:.1} MiB, VmHWM (peak) {:.1} MiB",
                memory.rss_mib, memory.hwm_mib
            );
            (
                format!("{:.1}", memory.rss_mib),
                format!("{:.1}", memory.hwm_mib),
            )
        }
        Some(Err(error)) => {
            println!("  server memory: unavailable ({error})");
            ("-".into(), "-".into())
        }
        None => ("-".into(), "-".into()),
    };
    let (server_cpu_us, client_cpu_us) = cpu.fields();
    println!(
        "RESULT label={} rpc={} concurrency={} jobs={} calls_per_s={:.0} p50_ms={:.3} p99_ms={:.3} errors={} check_calls_per_s={} ratio_pct={} rss_mib={} hwm_mib={} server_cpu_us_per_call={} loadgen_cpu_us_per_call={}",
        if args.label.is_empty() {
            "-"
        } else {
            &args.label
        },
        args.rpc,
        args.concurrency,
        args.jobs,
        measured.calls_per_second(),
        measured.p50_ms(),
        measured.p99_ms(),
        measured.errors,
        ceiling.map_or("-".into(), |c| format!("{:.0}", c.calls_per_second())),
        ratio.map_or("-".into(), |r| format!("{r:.1}")),
        rss,
        hwm,
        server_cpu_us,
        client_cpu_us,
    );
    if let Some(first) = &measured.first_error {
        println!("  first error: {first}");
    }
}

/// Where `seed` writes; shared so that both files agree on job names.
pub fn job_name(index: usize) -> String {
    format!("job-{index}")
}
