//! The production backend: PostgreSQL, shared by any number of stateless `thabian serve` nodes.
//!
//! Commit order is made equal to log order by the sequencer row: every write transaction that
//! appends events takes `log_head` with `FOR UPDATE` first and releases it only at commit, so the
//! transaction that got seq n has committed before the one that gets n + 1 can even read the head.
//! A plain sequence would not give this (transactions commit out of order, and a change-feed
//! consumer reading `seq > last` would skip the late one forever).
use sqlx::postgres::{PgArguments, PgPoolOptions};
use sqlx::query::Query;
use sqlx::{Pool, Postgres, Transaction};
use std::time::Duration;

pub struct PgStore {
    pool: Pool<Postgres>,
}

impl PgStore {
    /// Rows per multi-row statement: under the 65,535 bound parameters for the widest table.
    pub(crate) const BULK_ROWS: usize = 500;
    pub(crate) const NUMBERED_PARAMS: bool = true;

    /// The inside of `IN (..)` for a list of text values: one array parameter. A list of
    /// scalar parameters gets a generic plan that, on a table whose statistics lag behind a bulk
    /// load, scans the whole table once per statement (seen: 0.8 s per 1,000 import keys).
    pub(crate) fn in_list(first: usize, _count: usize) -> String {
        format!("SELECT unnest(${first}::text[])")
    }

    pub(crate) fn bind_list<'q>(
        query: Query<'q, Postgres, PgArguments>,
        values: &'q [String],
    ) -> Query<'q, Postgres, PgArguments> {
        query.bind(values)
    }

    /// The tables a bulk load grows and looks up as it goes (a sample of each: fast at any size).
    const ANALYZE: &'static str = "ANALYZE import_keys, persons, households";

    /// Settings for [`crate::Store::index_staged_keys`]'s transaction: PostgreSQL sorts an
    /// index it builds in `maintenance_work_mem` (64 MB by default: a 10M-person index spills
    /// to many runs on disk).
    const BULK_INDEX_SETTINGS: &'static [&'static str] =
        &["SET LOCAL maintenance_work_mem = '512MB'"];

    /// How [`crate::Store::index_staged_keys`] empties the staging table: a `DELETE` marks each
    /// row dead (minutes at 100M keys); `TRUNCATE` swaps in an empty file, and is transactional.
    const CLEAR_STAGED_KEYS: &'static str = "TRUNCATE person_keys_staged";

    /// The aggregate that joins a key's PINs with commas ([`crate::Store::ranked_candidates`]).
    const JOIN_PINS: &'static str = "string_agg(pin, ',')";

    const LOCK_HEAD: &'static str =
        "SELECT size, frontier, last_recorded_at FROM log_head WHERE id = 1 FOR UPDATE";

    pub async fn connect(url: &str) -> crate::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        // Several nodes may start at once against a fresh database; sqlx's migrator takes an
        // advisory lock so only one applies the migrations.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    fn read_pool(&self) -> &Pool<Postgres> {
        &self.pool
    }

    fn write_pool(&self) -> &Pool<Postgres> {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

crate::common::impl_store!(PgStore, sqlx::Postgres, "postgres");
