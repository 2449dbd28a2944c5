//! The PostgreSQL store, for several herald nodes sharing one database. Writers of the same
//! order serialise on a transaction-scoped advisory lock per (channel, external id); job-like
//! sweeps claim rows with `FOR UPDATE SKIP LOCKED` so two nodes never process the same row.

use crate::{Result, StoreError, StoreOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn open(url: &str, opts: &StoreOptions) -> Result<Self> {
        let connect_err = |source| StoreError::Connect {
            url: crate::redact_url(url),
            source,
        };
        let options = PgConnectOptions::from_str(url).map_err(connect_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        // sqlx's migrator holds an advisory lock, so nodes starting together migrate once.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    pub(crate) fn read_pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn write_pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Takes the advisory lock of every order in the batch, in a fixed order so two batches
    /// that share orders cannot deadlock.
    pub(crate) async fn lock_order_keys(
        tx: &mut Transaction<'static, Postgres>,
        keys: &[(String, String)],
    ) -> Result<()> {
        let mut names: Vec<String> = keys.iter().map(|(c, e)| format!("{c}\u{1f}{e}")).collect();
        names.sort();
        names.dedup();
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 7)) FROM (SELECT k FROM unnest($1::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n) AS s",
        )
        .bind(names)
        .fetch_all(&mut **tx)
        .await?;
        Ok(())
    }
}

crate::sql::store_impl!(PgStore, sqlx::Postgres, "postgres");
