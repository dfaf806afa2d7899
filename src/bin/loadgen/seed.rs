//! `loadgen seed`: fills a database file with history by direct SQL, as the
//! original store would have written it, in one transaction. The service's
//! triggers are installed first, so they keep the aggregates while rows go in.

use std::{path::PathBuf, time::Instant};

use chrono::{Duration, NaiveDate};
use clap::Args;
use learning_service::store::sqlite::schema;
use rusqlite::{Connection, params};

use crate::job_name;

#[derive(Args, Clone, Debug)]
pub struct SeedArgs {
    /// Database file (created if missing; rows are added to what is there).
    #[arg(long)]
    db: PathBuf,
    /// Rows of exploration_budget.
    #[arg(long, default_value_t = 0)]
    budget_rows: u64,
    /// Rows of entropy_responses.
    #[arg(long, default_value_t = 0)]
    responses: u64,
    /// Rows of patterns.
    #[arg(long, default_value_t = 0)]
    patterns: u64,
    /// Rows of pattern_applications, spread unevenly over the patterns.
    #[arg(long, default_value_t = 0)]
    applications: u64,
    /// Jobs the budget rows and responses are spread over (`job-0`..), round robin.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Applications are spread evenly over this last stretch of time up to
    /// now (e.g. `7d`), instead of 10 ms apart from 2025-01-01.
    #[arg(long, value_parser = humantime::parse_duration)]
    applications_within: Option<std::time::Duration>,
}

/// xorshift64*: reproducible, no dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn uuid(&mut self) -> String {
        let bytes = (u128::from(self.next()) << 64) | u128::from(self.next());
        uuid::Builder::from_random_bytes(bytes.to_le_bytes())
            .into_uuid()
            .to_string()
    }
}

pub fn run(args: &SeedArgs) -> Result<(), String> {
    let started = Instant::now();
    schema::check_existing_file(&args.db).map_err(|e| e.to_string())?;
    let mut connection = Connection::open(&args.db).map_err(|e| e.to_string())?;
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;",
        )
        .map_err(|e| e.to_string())?;
    schema::ensure(&mut connection).map_err(|e| e.to_string())?;
    let transaction = connection.transaction().map_err(|e| e.to_string())?;
    fill(&transaction, args).map_err(|e| e.to_string())?;
    transaction.commit().map_err(|e| e.to_string())?;
    connection
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .map_err(|e| e.to_string())?;
    println!(
        "seeded {}: {} budget rows, {} responses over {} job(s); {} patterns, {} applications; {:.1}s",
        args.db.display(),
        args.budget_rows,
        args.responses,
        args.jobs.max(1),
        args.patterns,
        args.applications,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn fill(c: &Connection, args: &SeedArgs) -> rusqlite::Result<()> {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let base = NaiveDate::from_ymd_opt(2025, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    let time = |i: u64| {
        (base + Duration::milliseconds(i as i64 * 10))
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string()
    };
    let jobs = args.jobs.max(1);
    let kinds = [
        "initial",
        "boost",
        "decay",
        "floor_enforced",
        "ceiling_enforced",
    ];
    let mut insert = c.prepare(
        "INSERT INTO exploration_budget (id, job_hash, recorded_at, budget_value, \
         entropy_at_time, adjustment_type, adjustment_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for i in 0..args.budget_rows {
        let value = 0.05 + 0.45 * random.unit();
        insert.execute(params![
            random.uuid(),
            job_name(i as usize % jobs),
            time(i),
            value,
            random.unit(),
            kinds[(i % 5) as usize],
            "seeded"
        ])?;
    }
    let mut insert = c.prepare(
        "INSERT INTO entropy_responses (id, job_hash, recorded_at, entropy_at_trigger, \
         threshold_used, actions_taken, budget_boosted, quarantine_revisits, patterns_revisited) \
         VALUES (?1, ?2, ?3, ?4, 0.3, '[\"budget_boost\"]', 1, 0, '[]')",
    )?;
    for i in 0..args.responses {
        insert.execute(params![
            random.uuid(),
            job_name(i as usize % jobs),
            time(i),
            0.3 * random.unit()
        ])?;
    }
    let mut insert = c.prepare(
        "INSERT INTO patterns (id, pattern_type, pattern_name, first_seen, last_seen) \
         VALUES (?1, 'seeded', ?2, ?3, ?3)",
    )?;
    let mut patterns = Vec::with_capacity(args.patterns as usize);
    for i in 0..args.patterns {
        let id = random.uuid();
        insert.execute(params![id, format!("pattern-{i}"), time(i)])?;
        patterns.push(id);
    }
    if patterns.is_empty() {
        return Ok(());
    }
    let mut insert = c.prepare(
        "INSERT INTO pattern_applications (id, pattern_id, execution_id, applied_at, \
         pattern_led_to_success) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let applied_at = |i: u64| match args.applications_within {
        None => time(i),
        Some(within) => {
            let step = within.as_secs_f64() / args.applications.max(1) as f64;
            let ago = Duration::milliseconds(((args.applications - i) as f64 * step * 1e3) as i64);
            (chrono::Local::now().naive_local() - ago)
                .format("%Y-%m-%dT%H:%M:%S%.6f")
                .to_string()
        }
    };
    for i in 0..args.applications {
        // Skewed: low-numbered patterns are applied far more often.
        let u = random.unit();
        let pattern = &patterns[((u * u) * patterns.len() as f64) as usize % patterns.len()];
        insert.execute(params![
            random.uuid(),
            pattern,
            format!("exec-{i}"),
            applied_at(i),
            i % 3 != 0
        ])?;
    }
    Ok(())
}
