//! A pooled connection lent to one call.
//!
//! A call can be dropped in the middle of a statement: its deadline passed,
//! or its client went away. tokio-postgres then still has the statement in
//! flight on the connection (a write waiting for a row lock, say), and the
//! next call given that connection would queue behind it: a read would wait
//! for another replica's lock. So a connection goes back to the pool only
//! when its call ran to the end; otherwise it is taken out of the pool and
//! closed (its open transaction is rolled back, and the pool opens a new one).

use std::ops::{Deref, DerefMut};

use deadpool_postgres::Object;

pub struct Conn {
    object: Option<Object>,
    finished: bool,
}

impl Conn {
    pub fn new(object: Object) -> Self {
        Self {
            object: Some(object),
            finished: false,
        }
    }

    /// The call is over (with success or an error the database answered):
    /// nothing is in flight, so the connection may serve the next call.
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Deref for Conn {
    type Target = Object;

    fn deref(&self) -> &Object {
        self.object.as_ref().expect("a connection until dropped")
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Object {
        self.object.as_mut().expect("a connection until dropped")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(object) = self.object.take()
            && !self.finished
        {
            tracing::debug!("a call was cut off mid-statement; its connection is closed");
            drop(Object::take(object));
        }
    }
}
