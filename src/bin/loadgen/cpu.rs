//! CPU time spent by the server and by this load generator during a phase,
//! from /proc (Linux). Both share the machine's cores, so the cost per call
//! on each side tells what limits a rate.

use std::time::Duration;

/// /proc reports CPU time in USER_HZ ticks, which Linux fixes at 100 per
/// second for user space whatever the kernel's own tick.
const TICKS_PER_SECOND: u64 = 100;

fn process_cpu(process: &str) -> Result<Duration, String> {
    let path = format!("/proc/{process}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| -> Result<u64, String> {
        fields
            .get(index)
            .and_then(|field| field.parse().ok())
            .ok_or_else(|| format!("{path}: no CPU time field"))
    };
    // utime and stime, fields 14 and 15 of the line (11 and 12 after the name).
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_millis(total * 1000 / TICKS_PER_SECOND))
}

/// CPU times at the start of a phase: the server's (with its /proc name)
/// and this process's.
pub struct Start {
    server: Option<(String, Result<Duration, String>)>,
    client: Result<Duration, String>,
}

/// CPU microseconds per call, each side.
pub struct PerCall {
    pub server_us: Option<Result<f64, String>>,
    pub client_us: Result<f64, String>,
}

pub fn start(server_pid: Option<u32>) -> Start {
    Start {
        server: server_pid.map(|pid| {
            let process = pid.to_string();
            let cpu = process_cpu(&process);
            (process, cpu)
        }),
        client: process_cpu("self"),
    }
}

impl Start {
    pub fn per_call(self, calls: u64) -> PerCall {
        let per_call = |start: Result<Duration, String>, process: &str| {
            let spent = process_cpu(process)?.saturating_sub(start?);
            Ok(spent.as_secs_f64() * 1e6 / calls.max(1) as f64)
        };
        PerCall {
            server_us: self
                .server
                .map(|(process, start)| per_call(start, &process)),
            client_us: per_call(self.client, "self"),
        }
    }
}

impl PerCall {
    /// `server X µs, loadgen Y µs` (a side that could not be read shows why).
    pub fn describe(&self) -> String {
        let side = |value: &Result<f64, String>| match value {
            Ok(us) => format!("{us:.1} µs"),
            Err(error) => format!("unavailable ({error})"),
        };
        match &self.server_us {
            Some(server) => format!("server {}, loadgen {}", side(server), side(&self.client_us)),
            None => format!("loadgen {}", side(&self.client_us)),
        }
    }

    /// The figures for the RESULT line: `-` where unknown.
    pub fn fields(&self) -> (String, String) {
        let field = |value: Option<&Result<f64, String>>| match value {
            Some(Ok(us)) => format!("{us:.1}"),
            _ => "-".into(),
        };
        (field(self.server_us.as_ref()), field(Some(&self.client_us)))
    }
}
