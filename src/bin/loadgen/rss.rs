//! Memory of the server process, from /proc (Linux).

pub struct Memory {
    pub rss_mib: f64,
    /// Peak resident set since the process started.
    pub hwm_mib: f64,
}

pub fn read(pid: u32) -> Result<Memory, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let field = |name: &str| -> Result<f64, String> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map(|kib| kib / 1024.0)
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok(Memory {
        rss_mib: field("VmRSS:")?,
        hwm_mib: field("VmHWM:")?,
    })
}
