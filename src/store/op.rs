//! A write operation as a value. The store's modules build one for each
//! write; the api layer may map its result (to a response message) without
//! seeing the connection; the writer runs it inside a savepoint.

use rusqlite::Connection;

use super::StoreResult;

type Run<T> = Box<dyn FnOnce(&Connection) -> StoreResult<T> + Send>;

pub struct WriteOp<T> {
    run: Run<T>,
}

impl<T: 'static> WriteOp<T> {
    pub(super) fn new(run: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static) -> Self {
        Self { run: Box::new(run) }
    }

    /// The same operation, its result passed through `f` inside the
    /// transaction (so that what `f` returns can be stored with the write).
    pub fn map<U: 'static>(self, f: impl FnOnce(T) -> U + Send + 'static) -> WriteOp<U> {
        let run = self.run;
        WriteOp::new(move |c| run(c).map(f))
    }

    pub(super) fn run(self, connection: &Connection) -> StoreResult<T> {
        (self.run)(connection)
    }
}
