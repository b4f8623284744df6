//! Several statements sent to SQLite as one query. sqlx runs each SQLite connection on
//! a worker thread of its own, so every statement costs a hand-off to that thread and
//! back; a job's record is about ten statements, and those hand-offs were most of the
//! time between a job's end and its `Finished` message. A batch is one hand-off.
//!
//! sqlx binds anonymous `?` parameters in order across the statements of a query.

use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

pub(super) struct Batch<'a> {
    query: QueryBuilder<'a, Sqlite>,
    statements: usize,
}

impl<'a> Batch<'a> {
    pub fn new() -> Self {
        Self {
            query: QueryBuilder::new(""),
            statements: 0,
        }
    }

    /// Starts the next statement with `sql`; the rest is pushed on what is returned.
    pub fn statement(&mut self, sql: &str) -> &mut QueryBuilder<'a, Sqlite> {
        if self.statements > 0 {
            self.query.push(";\n");
        }
        self.statements += 1;
        self.query.push(sql);
        &mut self.query
    }

    /// Runs every statement, in order, to its end (so that an error in any of them is
    /// reported); returns the rows they produced.
    pub async fn run(mut self, conn: &mut SqliteConnection) -> sqlx::Result<Vec<SqliteRow>> {
        if self.statements == 0 {
            return Ok(Vec::new());
        }
        // Not cached: the text differs with every job's row counts.
        self.query.build().persistent(false).fetch_all(conn).await
    }
}
