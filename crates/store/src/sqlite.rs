//! The embedded backend: one SQLite file in WAL mode.
//!
//! One writer connection (SQLite has one writer anyway) whose transactions start with
//! `BEGIN IMMEDIATE`, so a transaction that reads before it writes cannot fail with SQLITE_BUSY on
//! upgrade; a pool of readers that never block it. `synchronous=FULL` because the register promises
//! that a committed change and a logged read survive a power cut.
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    reader: Pool<Sqlite>,
    writer: Pool<Sqlite>,
}

impl SqliteStore {
    /// Rows per multi-row statement: at most 6,000 parameters, under SQLite's 32,766.
    pub(crate) const BULK_ROWS: usize = 500;
    /// Anonymous `?` parameters in bulk statements: SQLite looks a named one up by walking a list
    /// (`sqlite3_bind_parameter_name`), which made a 500-row statement cost O(n²) to bind.
    pub(crate) const NUMBERED_PARAMS: bool = false;

    /// The inside of `IN (..)` for `count` text values: anonymous parameters.
    pub(crate) fn in_list(_first: usize, count: usize) -> String {
        crate::common::marks(1, count, false)
    }

    pub(crate) fn bind_list<'q>(
        query: Query<'q, Sqlite, SqliteArguments<'q>>,
        values: &'q [String],
    ) -> Query<'q, Sqlite, SqliteArguments<'q>> {
        values.iter().fold(query, |q, v| q.bind(v))
    }

    /// SQLite plans without statistics unless asked; `optimize` gathers them where it judges
    /// them useful (cheap, and a no-op when nothing changed).
    const ANALYZE: &'static str = "PRAGMA optimize";

    /// Settings for [`crate::Store::index_staged_keys`]'s transaction (SQLite's sorter needs
    /// none: it spills to temporary files by itself).
    const BULK_INDEX_SETTINGS: &'static [&'static str] = &[];

    /// How [`crate::Store::index_staged_keys`] empties the staging table: SQLite empties a table
    /// deleted without `WHERE` at once (its truncate optimization).
    const CLEAR_STAGED_KEYS: &'static str = "DELETE FROM person_keys_staged";

    /// The aggregate that joins a key's PINs with commas ([`crate::Store::ranked_candidates`]).
    const JOIN_PINS: &'static str = "group_concat(pin, ',')";

    const LOCK_HEAD: &'static str =
        "SELECT size, frontier, last_recorded_at FROM log_head WHERE id = 1";

    /// `url`: `sqlite://path` or a plain path; the file is created if missing.
    pub async fn connect(url: &str) -> crate::Result<Self> {
        let url = if url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite://{url}")
        };
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(false)
            .pragma("cache_size", "-16384")
            // Statement and savepoint journals in memory: a bulk statement inside a transaction
            // would otherwise write every page it touches to a temporary file first.
            .pragma("temp_store", "memory");
        // The writer's cache holds the hot index pages of bulk loads (person, parent and
        // household indexes are keyed by random PINs); readers share the OS page cache.
        let writer_options = options.clone().pragma("cache_size", "-262144");
        // No ping before handing out a connection (sqlx's default): an embedded database cannot
        // hang up, and the ping is a round trip to the connection's thread before every
        // statement.
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(writer_options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { reader, writer })
    }

    fn read_pool(&self) -> &Pool<Sqlite> {
        &self.reader
    }

    fn write_pool(&self) -> &Pool<Sqlite> {
        &self.writer
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }
}

crate::common::impl_store!(SqliteStore, sqlx::Sqlite, "sqlite");
