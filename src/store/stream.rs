//! Stream positions: where a reader of a streamed table stands.
//!
//! The contract every backend proves for itself:
//! - a record's position is a positive integer that increases in commit
//!   order: once a reader has seen position `p`, no record at or below `p`
//!   can appear later;
//! - consecutive records normally have consecutive positions; a gap right
//!   after a reader's position means records were deleted (pruned), which
//!   the streams report as OUT_OF_RANGE rather than skip silently;
//! - positions survive restarts, so cursors (encoded by `api/`) stay valid.

/// A point in a streamed table: "every record at or below this was seen".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(i64);

impl Position {
    /// Before the first record.
    pub const START: Position = Position(0);

    /// None for a negative value (never a position).
    pub fn new(value: i64) -> Option<Self> {
        (value >= 0).then_some(Self(value))
    }

    pub fn value(self) -> i64 {
        self.0
    }

    /// The position just before `self` (START stays START).
    pub fn before(self) -> Self {
        Self(self.0.saturating_sub(1).max(0))
    }

    /// Whether `next` directly follows `self`, with no record between.
    pub fn is_followed_by(self, next: Position) -> bool {
        next.0 <= self.0.saturating_add(1)
    }
}

/// Records read after a position, in position order. A record the backend
/// could not read (a row another program wrote with values it cannot
/// represent; the backend logs and counts it) is None: its position still
/// counts, so a stream moves past it and a cursor after it never meets it again.
pub type Streamed<T> = Vec<(Position, Option<T>)>;

/// A table that can be streamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamTable {
    Budget,
    Responses,
    Snapshots,
}

/// Which records a backfill counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamFilter {
    All,
    Job(String),
    ThresholdExceeded,
}

/// The oldest and newest positions of a table (None when it is empty).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamBounds {
    pub oldest: Option<Position>,
    pub newest: Option<Position>,
}

impl StreamBounds {
    /// The end of the table: the newest position, or START when empty.
    pub fn end(self) -> Position {
        self.newest.unwrap_or(Position::START)
    }

    /// The position just before the oldest record still kept.
    pub fn before_oldest(self) -> Position {
        self.oldest.map_or(Position::START, Position::before)
    }
}

/// What wakes the stream tails. `commits` changes after every commit of this
/// process; `polls` changes when the backend looked for writes of other
/// programs or replicas (the tails then also look for deleted records).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wakeup {
    pub commits: u64,
    pub polls: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_and_follow() {
        let p = Position::new(5).unwrap();
        assert!(Position::new(-1).is_none());
        assert!(p.is_followed_by(Position::new(6).unwrap()));
        assert!(!p.is_followed_by(Position::new(7).unwrap()));
        assert_eq!(Position::START.before(), Position::START);
        let bounds = StreamBounds {
            oldest: Position::new(3),
            newest: Position::new(9),
        };
        assert_eq!(bounds.before_oldest().value(), 2);
        assert_eq!(bounds.end().value(), 9);
        assert_eq!(StreamBounds::default().end(), Position::START);
    }
}
