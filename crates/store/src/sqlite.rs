//! The SQLite store: one writer connection (SQLite allows one writer at a time) and a pool of
//! readers, WAL journal, `synchronous=FULL` so that a committed write survives power loss
//! before herald answers 2xx, foreign keys on, and a busy timeout for a second process (such as
//! `herald import` next to a running server).

use crate::{Result, StoreError, StoreOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str, opts: &StoreOptions) -> Result<Self> {
        let connect_err = |source| StoreError::Connect {
            url: crate::redact_url(url),
            source,
        };
        let base = SqliteConnectOptions::from_str(url)
            .map_err(connect_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-65536");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.clone())
            .await
            .map_err(connect_err)?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(base.read_only(true))
            .await
            .map_err(connect_err)?;
        Ok(Self { writer, reader })
    }

    /// The write pool, for tools and benchmarks that measure herald against raw inserts.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    pub(crate) const SKIP_LOCKED: &'static str = "";

    pub(crate) fn read_pool(&self) -> &SqlitePool {
        &self.reader
    }

    pub(crate) fn write_pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// `BEGIN IMMEDIATE` takes the write lock up front, so a transaction never fails half-way
    /// when another process holds it (it waits for the busy timeout instead).
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// One writer at a time: nothing more to lock.
    pub(crate) async fn lock_order_keys(
        _tx: &mut Transaction<'static, Sqlite>,
        _keys: &[(String, String)],
    ) -> Result<()> {
        Ok(())
    }
}

crate::sql::store_impl!(SqliteStore, sqlx::Sqlite, "sqlite");
