//! Several statements sent to SQLite as one query. sqlx runs each SQLite connection on
//! a worker thread of its own, so every statement costs a hand-off to that thread and
//! back; a job's record is about ten statements, and those hand-offs were most of the
//! time between a job's end and its `Finished` message. A batch is one hand-off.
//!
//! sqlx binds anonymous `?` parameters in order across the statements of a query.

use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteRow;
use sqlx::{Executor, QueryBuilder, Sqlite, SqliteConnection};

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

    /// A batch that is one write transaction of its own, begun and committed within
    /// the same hand-off (see [`Batch::commit`]): one trip to the connection's thread
    /// instead of three.
    pub fn transaction() -> Self {
        let mut batch = Self::new();
        batch.statement("BEGIN IMMEDIATE");
        batch
    }

    /// Runs a [`Batch::transaction`] and commits it. On failure the transaction is
    /// rolled back; a connection that cannot even roll back is closed rather than
    /// handed to the next writer still inside a transaction (sqlx does not know of a
    /// transaction it did not begin).
    pub async fn commit(
        mut self,
        conn: &mut PoolConnection<Sqlite>,
    ) -> sqlx::Result<Vec<SqliteRow>> {
        self.statement("COMMIT");
        let result = self.run(conn).await;
        if result.is_err() && conn.execute("ROLLBACK").await.is_err() {
            conn.close_on_drop();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// A statement failing inside a transaction batch undoes the ones before it, and
    /// the connection comes back out of the transaction, ready for the next writer.
    #[tokio::test]
    async fn a_failing_transaction_batch_is_rolled_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("roar.db"))
            .await
            .unwrap();
        let mut conn = store.writer.acquire().await.unwrap();
        let mut batch = Batch::transaction();
        batch
            .statement("INSERT INTO artifacts (id, size) VALUES (")
            .push_bind(1_i64)
            .push(", 1)");
        batch.statement("INSERT INTO no_such_table VALUES (1)");
        assert!(batch.commit(&mut conn).await.is_err());
        let mut batch = Batch::transaction();
        batch
            .statement("INSERT INTO artifacts (id, size) VALUES (")
            .push_bind(2_i64)
            .push(", 2) RETURNING id");
        let rows = batch.commit(&mut conn).await.unwrap();
        assert_eq!(rows.len(), 1);
        drop(conn);
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM artifacts ORDER BY id")
            .fetch_all(store.reader().await)
            .await
            .unwrap();
        assert_eq!(ids, [2]);
    }
}
