//! `loadgen frame`: one call's request as a gRPC frame (the 5-byte prefix,
//! then the protobuf message), for load tools that send one fixed body and
//! decode nothing, such as h2load (`-d FILE`). See bench/h2load.sh.

use std::{path::PathBuf, time::Duration};

use clap::Args;

use crate::{job_name, rpcs::Workload};

#[derive(Args, Debug)]
pub struct FrameArgs {
    /// RPC whose request is written (the names of `--rpc list`, `Check`, or
    /// `mix` with `--call`).
    #[arg(long)]
    rpc: String,
    /// The request is for job `job-J`.
    #[arg(long, default_value_t = 0)]
    job: usize,
    /// Which call of the workload: the values that vary per call (e.g. the
    /// budget of UpdateExplorationBudget), and for `mix` the RPC of the mix.
    #[arg(long, default_value_t = 0)]
    call: usize,
    /// Entropy readings over this last window only (as `--window` of a run).
    #[arg(long, value_parser = humantime::parse_duration)]
    window: Option<Duration>,
    /// The pattern RecordPatternApplication applies.
    #[arg(long, default_value = "")]
    pattern_id: String,
    /// File the frame is written to. The call's HTTP/2 path
    /// (`/learning.v1.Service/Method`) is printed on standard output.
    #[arg(long)]
    out: PathBuf,
}

/// gRPC's length-prefixed message: a compression flag (0: none), the
/// message length as 4 bytes big-endian, then the message.
pub fn grpc_frame(message: &[u8]) -> Result<Vec<u8>, String> {
    let length = u32::try_from(message.len()).map_err(|_| "message too long for a frame")?;
    let mut frame = Vec::with_capacity(5 + message.len());
    frame.push(0);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(message);
    Ok(frame)
}

pub fn run(args: &FrameArgs) -> Result<(), String> {
    let workload = Workload::parse(&args.rpc, 1)?
        .with_window(args.window)
        .with_pattern(args.pattern_id.clone());
    let request = workload.request(
        workload.nth_rpc(args.call),
        job_name(args.job),
        0,
        args.call,
    );
    let frame = grpc_frame(&request.encode())?;
    std::fs::write(&args.out, frame).map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!("{}", request.path());
    Ok(())
}
