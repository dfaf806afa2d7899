//! `learning-service migrate --from FILE --to postgres://...`: copies a
//! SQLite store (the original's file included) into PostgreSQL, in batches,
//! and verifies the row counts. The SQL is the stores' own: the file is read
//! by `store::sqlite::export` (read-only), the database written by
//! `store::postgres::import` (resumable, idempotent; see there).

use std::{
    io::IsTerminal,
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};

use crate::store::{
    copy::{CopyProgress, CopyTable},
    postgres::{PostgresOptions, PostgresUrl, import::Import},
    sqlite::export::Export,
};

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The SQLite store to copy (opened read-only; a service may run on it).
    #[arg(long)]
    pub from: PathBuf,
    /// The PostgreSQL database: postgres://user:password@host:port/dbname?sslmode=...
    #[arg(long, env = "LEARNING_MIGRATE_TO")]
    pub to: String,
    /// Rows per transaction.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=2000))]
    pub batch_size: u64,
    /// CA file (PEM) of the database's certificate (else the URL's sslrootcert).
    #[arg(long, env = "LEARNING_PG_CA")]
    pub pg_ca: Option<PathBuf>,
    /// How long connecting to the database may take.
    #[arg(long, env = "LEARNING_PG_CONNECT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub pg_connect_timeout: Duration,
}

impl MigrateArgs {
    pub fn run(self) -> ExitCode {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("error: cannot start the runtime: {error}");
                return ExitCode::FAILURE;
            }
        };
        match runtime.block_on(self.migrate()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(problem) => {
                eprintln!("error: {problem}");
                ExitCode::FAILURE
            }
        }
    }

    async fn migrate(&self) -> Result<(), String> {
        let url: PostgresUrl = self
            .to
            .parse()
            .map_err(|e| format!("--to must be a postgres:// URL: {e}"))?;
        let source = std::fs::canonicalize(&self.from)
            .map_err(|e| format!("cannot open {}: {e}", self.from.display()))?;
        let export = Export::open(&source)?;
        let options = PostgresOptions {
            pool_size: 1,
            connect_timeout: self.pg_connect_timeout,
            ca: self.pg_ca.clone(),
            ..PostgresOptions::default()
        };
        let import = Import::connect(&url, &options)
            .await
            .map_err(|e| e.to_string())?;
        let started = import
            .start(&source.to_string_lossy())
            .await
            .map_err(|e| e.to_string())?;
        let mut display = Display::new();
        let mut lines = Vec::new();
        let mut expected = Vec::new();
        for (table, before) in started {
            let total = export.row_count(table)?;
            let after = self
                .copy_table(&export, &import, table, &before, total, &mut display)
                .await?;
            lines.push(format!(
                "  {:<24} {:>9} copied, {} already there, {} left out (unreadable)",
                table.name(),
                after.copied - before.copied,
                after.already_there - before.already_there,
                after.left_out - before.left_out,
            ));
            // Every readable row of the file, once: the target started empty.
            expected.push((table, total - after.left_out, after.left_out));
        }
        display.finish();
        import.rebuild().await.map_err(|e| e.to_string())?;
        println!("migrated {} into {url}", source.display());
        for line in lines {
            println!("{line}");
        }
        let counts = import.row_counts().await.map_err(|e| e.to_string())?;
        let mut differences: Vec<String> = expected
            .iter()
            .zip(counts)
            .filter(|((_, expected, _), (_, found))| expected != found)
            .map(|((table, expected, left_out), (_, found))| {
                format!(
                    "{} has {found} rows in the database but {expected} readable rows in the \
                     file ({left_out} left out)",
                    table.name()
                )
            })
            .collect();
        // What the rows carry besides their columns (explanations, a
        // snapshot's diversity), counted in the file as the copy read it.
        for (extra, found) in import.extra_counts().await.map_err(|e| e.to_string())? {
            let expected = export.count(extra)?;
            if expected != found {
                differences.push(format!(
                    "{} has {found} in the database but {expected} in the file's readable rows",
                    extra.name()
                ));
            }
        }
        if !differences.is_empty() {
            return Err(format!(
                "the counts differ after the migration: {}; was the database written by \
                 something else meanwhile?",
                differences.join("; ")
            ));
        }
        println!(
            "counts verified: the database holds every readable row of the file, once, with \
             its explanation and diversity; statistics, application counts and buckets rebuilt"
        );
        Ok(())
    }

    async fn copy_table(
        &self,
        export: &Export,
        import: &Import,
        table: CopyTable,
        before: &CopyProgress,
        total: i64,
        display: &mut Display,
    ) -> Result<CopyProgress, String> {
        let mut progress = before.clone();
        let done = |p: &CopyProgress| (p.copied + p.already_there + p.left_out) as u64;
        display.start(table.name(), total.max(0) as u64, done(&progress));
        loop {
            let batch = export.rows_after(table, progress.last_rowid, self.batch_size as usize)?;
            if batch.last_rowid.is_none() {
                break;
            }
            progress = import
                .copy_batch(table, &progress, &batch)
                .await
                .map_err(|e| format!("copying {}: {e}", table.name()))?;
            display.advance(done(&progress));
        }
        display.end(done(&progress));
        Ok(progress)
    }
}

/// Progress on standard error: a bar on a terminal, else a line per table
/// and one every few seconds.
struct Display {
    bar: Option<ProgressBar>,
    terminal: bool,
    table: &'static str,
    total: u64,
    last_line: Instant,
}

const LINE_EVERY: Duration = Duration::from_secs(5);

impl Display {
    fn new() -> Self {
        Self {
            bar: None,
            terminal: std::io::stderr().is_terminal(),
            table: "",
            total: 0,
            last_line: Instant::now(),
        }
    }

    fn start(&mut self, table: &'static str, total: u64, done: u64) {
        (self.table, self.total) = (table, total);
        if self.terminal {
            let bar = ProgressBar::new(total).with_position(done.min(total));
            let style = ProgressStyle::with_template(
                "{prefix:<24} [{bar:30}] {pos}/{len} rows ({per_sec}, {eta} left)",
            )
            .map(|style| style.progress_chars("=> "));
            if let Ok(style) = style {
                bar.set_style(style);
            }
            bar.set_prefix(table);
            self.bar = Some(bar);
        } else {
            eprintln!("{table}: {total} rows in the file, {done} done before");
            self.last_line = Instant::now();
        }
    }

    fn advance(&mut self, done: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(done.min(self.total)),
            None if self.last_line.elapsed() >= LINE_EVERY => {
                eprintln!("{}: {done} of {} rows done", self.table, self.total);
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    fn end(&mut self, done: u64) {
        match self.bar.take() {
            Some(bar) => {
                bar.set_position(done.min(self.total));
                bar.finish();
            }
            None => eprintln!("{}: {done} of {} rows done", self.table, self.total),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}
