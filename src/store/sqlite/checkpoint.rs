//! WAL checkpoints, mostly on a thread of their own. SQLite's automatic
//! checkpoint runs inside the COMMIT that crosses its threshold, so the writer
//! (and the next batch) stalls while the WAL is copied into the database. A
//! PASSIVE checkpoint here copies it beside the writer instead.
//!
//! The writer keeps its automatic checkpoint all the same: the WAL only
//! restarts from its beginning (instead of growing) when a write transaction
//! begins with every frame already copied, which under continuous writes only
//! happens right after a checkpoint in the writer's own thread. Since this
//! thread has copied most frames by then, the writer's checkpoint is short.

use std::time::Duration;

use rusqlite::Connection;

use super::every::Every;
use crate::store::StoreResult;

/// How often the WAL is copied into the database. Pages written again
/// within one interval (the ends of the table and its indexes, the
/// aggregates) are copied once: at 50 ms and 2,000 frames, checkpoints took
/// a fifth of the writer's time under load; at 100 ms and 10,000 frames
/// (a WAL of up to about 40 MB), writes ran about 10 % faster.
const INTERVAL: Duration = Duration::from_millis(100);
/// The writer's own automatic checkpoint, in WAL frames (pages).
pub const WRITER_FRAMES: i64 = 10_000;

/// Runs PASSIVE checkpoints beside the writer until dropped.
pub fn start(connection: Connection) -> StoreResult<Every> {
    Every::start("sqlite-checkpoint", INTERVAL, move || {
        if let Err(error) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(%error, "WAL checkpoint failed");
        }
    })
}
