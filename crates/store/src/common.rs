//! The SQL shared by both backends.
//!
//! sqlx binds a query to one database type at compile time, and generic code over `sqlx::Database`
//! needs a wall of higher-ranked bounds. The two backends run the same SQL text (both accept `$n`
//! placeholders, `ON CONFLICT`, `LIKE`), so one macro expands the same method bodies for each; the
//! backend-specific parts (how a write transaction starts and takes the sequencer row) are methods
//! of the backend type: `read_pool()`, `begin_write()` and the `LOCK_HEAD` constant.

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn split_subjects(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(crate) fn parse_seqs(s: &str) -> Vec<u64> {
    s.split(',').filter_map(|p| p.parse().ok()).collect()
}

/// Ranks the postings of [`crate::Store::ranked_candidates`]'s keys (each key's PINs joined by
/// commas, `None` for a key without any): a key's specificity is `1 + ⌊log2(limit / postings
/// read)⌋`, at most 10; a person's rank is the sum over the keys they were found under. Returns
/// every person found, best first (rank, then PIN bytewise), and the most postings read for one
/// key.
pub(crate) fn rank_postings(postings: &[Option<String>], limit: u32) -> (Vec<(String, i64)>, u64) {
    let mut ranks: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    let mut deepest = 0u64;
    for pins in postings.iter().flatten() {
        let read: Vec<&str> = pins.split(',').filter(|p| !p.is_empty()).collect();
        let count = read.len() as u64;
        deepest = deepest.max(count);
        let weight = (2..=10u32)
            .rev()
            .find(|level| count << (level - 1) <= u64::from(limit))
            .map_or(1, i64::from);
        for pin in read {
            *ranks.entry(pin).or_default() += weight;
        }
    }
    let mut ranked: Vec<(String, i64)> = ranks
        .into_iter()
        .map(|(pin, rank)| (pin.to_owned(), rank))
        .collect();
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    (ranked, deepest)
}

pub(crate) fn hash_from(bytes: &[u8]) -> Result<thabian_ledger::Hash, crate::StoreError> {
    bytes.try_into().map_err(|_| {
        crate::StoreError::Corrupt(format!("hash of {} bytes, expected 32", bytes.len()))
    })
}

/// `count` bind parameters, comma-separated: `$first, $first+1, ..` when `numbered`, else
/// anonymous `?` bound by position. SQLite resolves a named (numbered) parameter by walking a
/// list, so a statement with n of them binds in O(n²); anonymous ones bind in O(n).
pub(crate) fn marks(first: usize, count: usize, numbered: bool) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(count * 6);
    for n in first..first + count {
        if n > first {
            out.push_str(", ");
        }
        if numbered {
            let _ = write!(out, "${n}");
        } else {
            out.push('?');
        }
    }
    out
}

/// `INSERT INTO table (cols) VALUES (..), (..), ..` for `rows` rows of `cols` columns: one
/// statement per chunk of rows instead of one round trip per row (bulk imports write tens of
/// thousands of rows per transaction). Parameters as in [`marks`].
pub(crate) fn multi_row_insert(
    head: &str,
    cols: usize,
    rows: usize,
    tail: &str,
    numbered: bool,
) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * cols * 6 + 8);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        sql.push_str(&marks(1 + r * cols, cols, numbered));
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:literal) => {
        use crate::common::{hash_from, is_unique_violation, parse_seqs, split_subjects, to_i64, to_u64};
        use crate::*;
        use sqlx::Row;
        use thabian_ledger::Frontier;

        type DbRow = <$db as sqlx::Database>::Row;

        const EVENT_COLUMNS: &str = "e.seq, e.id, e.kind, e.subjects, e.area_path, e.effective, e.recorded_at, \
             e.actor, e.office, e.idempotency_key, e.body, e.leaf_hash";
        const PERSON_COLUMNS: &str =
            "pin, version, status, residence_path, household, father, mother, spouse, record";
        const ACCESS_COLUMNS: &str = "id, at, official_id, pin, action, purpose, client, detail, event_seq";

        fn event_from_row(r: &DbRow) -> Result<StoredEvent> {
            let leaf: Vec<u8> = r.try_get("leaf_hash")?;
            Ok(StoredEvent {
                seq: to_u64(r.try_get("seq")?),
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                subjects: split_subjects(&r.try_get::<String, _>("subjects")?),
                area_path: r.try_get("area_path")?,
                effective: r.try_get("effective")?,
                recorded_at: r.try_get("recorded_at")?,
                actor: r.try_get("actor")?,
                office: r.try_get("office")?,
                idempotency_key: r.try_get("idempotency_key")?,
                body: r.try_get("body")?,
                leaf_hash: hash_from(&leaf)?,
            })
        }

        fn person_from_row(r: &DbRow) -> Result<PersonRow> {
            Ok(PersonRow {
                pin: r.try_get("pin")?,
                version: to_u64(r.try_get("version")?),
                status: r.try_get("status")?,
                residence_path: r.try_get("residence_path")?,
                household: r.try_get("household")?,
                father: r.try_get("father")?,
                mother: r.try_get("mother")?,
                spouse: r.try_get("spouse")?,
                record: r.try_get("record")?,
                search_keys: Vec::new(),
                match_record: Vec::new(),
            })
        }

        fn household_from_row(r: &DbRow) -> Result<HouseholdRow> {
            Ok(HouseholdRow {
                id: r.try_get("id")?,
                version: to_u64(r.try_get("version")?),
                head: r.try_get("head")?,
                area_path: r.try_get("area_path")?,
                record: r.try_get("record")?,
            })
        }

        fn official_from_row(r: &DbRow) -> Result<OfficialRow> {
            Ok(OfficialRow {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                role: r.try_get("role")?,
                jurisdiction: r.try_get("jurisdiction")?,
                office: r.try_get("office")?,
                created_at: r.try_get("created_at")?,
                disabled_at: r.try_get("disabled_at")?,
            })
        }

        fn token_from_row(r: &DbRow) -> Result<TokenRow> {
            Ok(TokenRow {
                id: r.try_get("id")?,
                hash: r.try_get("hash")?,
                official_id: r.try_get("official_id")?,
                label: r.try_get("label")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        }

        fn access_from_row(r: &DbRow) -> Result<AccessRecord> {
            Ok(AccessRecord {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                official_id: r.try_get("official_id")?,
                pin: r.try_get("pin")?,
                action: r.try_get("action")?,
                purpose: r.try_get("purpose")?,
                client: r.try_get("client")?,
                detail: r.try_get("detail")?,
                event_seq: r.try_get::<Option<i64>, _>("event_seq")?.map(to_u64),
            })
        }

        fn checkpoint_from_row(r: &DbRow) -> Result<CheckpointRow> {
            let root: Vec<u8> = r.try_get("root")?;
            Ok(CheckpointRow {
                size: to_u64(r.try_get("size")?),
                root: hash_from(&root)?,
                time: r.try_get("time")?,
                key_id: r.try_get("key_id")?,
                note: r.try_get("note")?,
            })
        }

        async fn insert_access<'c, E>(conn: E, a: &AccessRecord) -> Result<()>
        where
            E: sqlx::Executor<'c, Database = $db>,
        {
            sqlx::query(
                "INSERT INTO access_log (id, at, official_id, pin, action, purpose, client, detail, event_seq) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&a.id)
            .bind(&a.at)
            .bind(&a.official_id)
            .bind(&a.pin)
            .bind(&a.action)
            .bind(&a.purpose)
            .bind(&a.client)
            .bind(&a.detail)
            .bind(a.event_seq.map(to_i64))
            .execute(conn)
            .await?;
            Ok(())
        }

        async fn write_person<'c, E>(conn: E, p: &Versioned<PersonRow>) -> Result<()>
        where
            E: sqlx::Executor<'c, Database = $db>,
        {
            let r = &p.row;
            let result = match p.expected_version {
                None => {
                    sqlx::query(
                        "INSERT INTO persons (pin, version, status, residence_path, household, father, mother, spouse, record) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(&r.pin)
                    .bind(to_i64(r.version))
                    .bind(&r.status)
                    .bind(&r.residence_path)
                    .bind(&r.household)
                    .bind(&r.father)
                    .bind(&r.mother)
                    .bind(&r.spouse)
                    .bind(&r.record)
                    .execute(conn)
                    .await
                }
                Some(expected) => {
                    sqlx::query(
                        "UPDATE persons SET version = $2, status = $3, residence_path = $4, household = $5, \
                         father = $6, mother = $7, spouse = $8, record = $9 WHERE pin = $1 AND version = $10",
                    )
                    .bind(&r.pin)
                    .bind(to_i64(r.version))
                    .bind(&r.status)
                    .bind(&r.residence_path)
                    .bind(&r.household)
                    .bind(&r.father)
                    .bind(&r.mother)
                    .bind(&r.spouse)
                    .bind(&r.record)
                    .bind(to_i64(expected))
                    .execute(conn)
                    .await
                }
            };
            match result {
                Ok(done) if p.expected_version.is_some() && done.rows_affected() == 0 => {
                    Err(StoreError::Conflict { what: "person", key: r.pin.clone() })
                }
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate { what: "person", key: r.pin.clone() }),
                Err(e) => Err(e.into()),
            }
        }

        async fn write_household<'c, E>(conn: E, h: &Versioned<HouseholdRow>) -> Result<()>
        where
            E: sqlx::Executor<'c, Database = $db>,
        {
            let r = &h.row;
            let result = match h.expected_version {
                None => {
                    sqlx::query(
                        "INSERT INTO households (id, version, head, area_path, record) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&r.id)
                    .bind(to_i64(r.version))
                    .bind(&r.head)
                    .bind(&r.area_path)
                    .bind(&r.record)
                    .execute(conn)
                    .await
                }
                Some(expected) => {
                    sqlx::query(
                        "UPDATE households SET version = $2, head = $3, area_path = $4, record = $5 \
                         WHERE id = $1 AND version = $6",
                    )
                    .bind(&r.id)
                    .bind(to_i64(r.version))
                    .bind(&r.head)
                    .bind(&r.area_path)
                    .bind(&r.record)
                    .bind(to_i64(expected))
                    .execute(conn)
                    .await
                }
            };
            match result {
                Ok(done) if h.expected_version.is_some() && done.rows_affected() == 0 => {
                    Err(StoreError::Conflict { what: "household", key: r.id.clone() })
                }
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => {
                    Err(StoreError::Duplicate { what: "household", key: r.id.clone() })
                }
                Err(e) => Err(e.into()),
            }
        }

        /// Inserts new person rows, many per statement.
        async fn insert_persons(conn: &mut <$db as sqlx::Database>::Connection, rows: &[&PersonRow]) -> Result<()> {
            for chunk in rows.chunks(<$store>::BULK_ROWS) {
                let sql = crate::common::multi_row_insert(
                    "INSERT INTO persons (pin, version, status, residence_path, household, father, mother, spouse, record)",
                    9, chunk.len(), "", <$store>::NUMBERED_PARAMS,
                );
                let mut q = sqlx::query(&sql);
                for r in chunk {
                    q = q.bind(&r.pin).bind(to_i64(r.version)).bind(&r.status).bind(&r.residence_path)
                        .bind(&r.household).bind(&r.father).bind(&r.mother).bind(&r.spouse).bind(&r.record);
                }
                match q.execute(&mut *conn).await {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        let key = match chunk {
                            [one] => one.pin.clone(),
                            _ => format!("(one of {} from {})", chunk.len(), chunk[0].pin),
                        };
                        return Err(StoreError::Duplicate { what: "person", key });
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        }

        async fn insert_households(conn: &mut <$db as sqlx::Database>::Connection, rows: &[&HouseholdRow]) -> Result<()> {
            for chunk in rows.chunks(<$store>::BULK_ROWS) {
                let sql = crate::common::multi_row_insert(
                    "INSERT INTO households (id, version, head, area_path, record)", 5, chunk.len(), "",
                    <$store>::NUMBERED_PARAMS,
                );
                let mut q = sqlx::query(&sql);
                for r in chunk {
                    q = q.bind(&r.id).bind(to_i64(r.version)).bind(&r.head).bind(&r.area_path).bind(&r.record);
                }
                match q.execute(&mut *conn).await {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        let key = match chunk {
                            [one] => one.id.clone(),
                            _ => format!("(one of {} from {})", chunk.len(), chunk[0].id),
                        };
                        return Err(StoreError::Duplicate { what: "household", key });
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        }

        async fn insert_access_rows(conn: &mut <$db as sqlx::Database>::Connection, rows: &[AccessRecord]) -> Result<()> {
            for chunk in rows.chunks(<$store>::BULK_ROWS) {
                let sql = crate::common::multi_row_insert(
                    "INSERT INTO access_log (id, at, official_id, pin, action, purpose, client, detail, event_seq)",
                    9, chunk.len(), "", <$store>::NUMBERED_PARAMS,
                );
                let mut q = sqlx::query(&sql);
                for a in chunk {
                    q = q.bind(&a.id).bind(&a.at).bind(&a.official_id).bind(&a.pin).bind(&a.action)
                        .bind(&a.purpose).bind(&a.client).bind(&a.detail).bind(a.event_seq.map(to_i64));
                }
                q.execute(&mut *conn).await?;
            }
            Ok(())
        }

        /// Stages the search keys of these (new) person rows for [`Store::index_staged_keys`],
        /// in arrival order, and writes their compact match records.
        async fn stage_search_keys(
            conn: &mut <$db as sqlx::Database>::Connection,
            rows: &[&PersonRow],
        ) -> Result<()> {
            let pairs: Vec<(&str, &str)> = rows
                .iter()
                .flat_map(|r| r.search_keys.iter().map(move |k| (k.as_str(), r.pin.as_str())))
                .collect();
            insert_key_pairs(&mut *conn, "INSERT INTO person_keys_staged (key, pin)", &pairs, "").await?;
            write_match_records(conn, rows).await
        }

        /// Inserts `(key, pin)` pairs with multi-row statements: `head` names the table and
        /// columns, `tail` follows the values.
        async fn insert_key_pairs(
            conn: &mut <$db as sqlx::Database>::Connection,
            head: &str,
            pairs: &[(&str, &str)],
            tail: &str,
        ) -> Result<()> {
            for chunk in pairs.chunks(<$store>::BULK_ROWS * 2) {
                let sql = crate::common::multi_row_insert(head, 2, chunk.len(), tail, <$store>::NUMBERED_PARAMS);
                let mut q = sqlx::query(&sql);
                for (key, pin) in chunk {
                    q = q.bind(*key).bind(*pin);
                }
                q.execute(&mut *conn).await?;
            }
            Ok(())
        }

        /// Writes the search index of these person rows: their keys (`replace`: their old keys go
        /// first) and their compact match records (replacing any previous one).
        async fn write_search_keys(
            conn: &mut <$db as sqlx::Database>::Connection,
            rows: &[&PersonRow],
            replace: bool,
        ) -> Result<()> {
            if replace {
                for r in rows {
                    sqlx::query("DELETE FROM person_keys WHERE pin = $1").bind(&r.pin).execute(&mut *conn).await?;
                }
            }
            // Sorted, so that a batch walks each B-tree once in key order instead of touching
            // a random leaf page per row: at millions of persons the indexes outgrow the cache.
            let mut pairs: Vec<(&str, &str)> = rows
                .iter()
                .flat_map(|r| r.search_keys.iter().map(move |k| (k.as_str(), r.pin.as_str())))
                .collect();
            pairs.sort_unstable();
            insert_key_pairs(&mut *conn, "INSERT INTO person_keys (key, pin)", &pairs, " ON CONFLICT DO NOTHING").await?;
            write_match_records(conn, rows).await
        }

        /// Writes the compact match records of these person rows, replacing any previous one.
        async fn write_match_records(
            conn: &mut <$db as sqlx::Database>::Connection,
            rows: &[&PersonRow],
        ) -> Result<()> {
            // Stable: were a PIN given twice, its last row must still win.
            let mut by_pin = rows.to_vec();
            by_pin.sort_by(|a, b| a.pin.cmp(&b.pin));
            for chunk in by_pin.chunks(<$store>::BULK_ROWS) {
                let sql = crate::common::multi_row_insert(
                    "INSERT INTO person_match (pin, residence_path, record)", 3, chunk.len(),
                    " ON CONFLICT (pin) DO UPDATE SET residence_path = excluded.residence_path, record = excluded.record",
                    <$store>::NUMBERED_PARAMS,
                );
                let mut q = sqlx::query(&sql);
                for r in chunk {
                    q = q.bind(&r.pin).bind(&r.residence_path).bind(&r.match_record);
                }
                q.execute(&mut *conn).await?;
            }
            Ok(())
        }

        async fn write_case<'c, E>(conn: E, c: &Versioned<CaseRow>) -> Result<()>
        where
            E: sqlx::Executor<'c, Database = $db>,
        {
            let r = &c.row;
            let result = match c.expected_version {
                None => {
                    sqlx::query(
                        "INSERT INTO review_cases (id, version, status, area_path, created_at, record) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&r.id)
                    .bind(to_i64(r.version))
                    .bind(&r.status)
                    .bind(&r.area_path)
                    .bind(&r.created_at)
                    .bind(&r.record)
                    .execute(conn)
                    .await
                }
                Some(expected) => {
                    sqlx::query(
                        "UPDATE review_cases SET version = $2, status = $3, area_path = $4, record = $5 \
                         WHERE id = $1 AND version = $6",
                    )
                    .bind(&r.id)
                    .bind(to_i64(r.version))
                    .bind(&r.status)
                    .bind(&r.area_path)
                    .bind(&r.record)
                    .bind(to_i64(expected))
                    .execute(conn)
                    .await
                }
            };
            match result {
                Ok(done) if c.expected_version.is_some() && done.rows_affected() == 0 => {
                    Err(StoreError::Conflict { what: "review case", key: r.id.clone() })
                }
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate { what: "review case", key: r.id.clone() }),
                Err(e) => Err(e.into()),
            }
        }

        fn case_from_row(r: &DbRow) -> Result<CaseRow> {
            Ok(CaseRow {
                id: r.try_get("id")?,
                version: to_u64(r.try_get("version")?),
                status: r.try_get("status")?,
                area_path: r.try_get("area_path")?,
                created_at: r.try_get("created_at")?,
                record: r.try_get("record")?,
            })
        }

        async fn write_biometric(
            conn: &mut <$db as sqlx::Database>::Connection,
            b: &BiometricRow,
        ) -> Result<()> {
            let done = sqlx::query(
                "INSERT INTO biometric_samples (id, pin, card, format, sha256, key_id, nonce, ciphertext, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&b.id)
            .bind(&b.pin)
            .bind(&b.card)
            .bind(&b.format)
            .bind(&b.sha256)
            .bind(&b.key_id)
            .bind(&b.nonce)
            .bind(&b.ciphertext)
            .bind(&b.created_at)
            .execute(&mut *conn)
            .await;
            match done {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate { what: "biometric sample", key: b.id.clone() }),
                Err(e) => Err(e.into()),
            }
        }

        /// Appends one batch inside the caller's transaction. On error the caller rolls back to
        /// its savepoint and restores the frontier.
        async fn append_batch(
            conn: &mut <$db as sqlx::Database>::Connection,
            batch: WriteBatch,
            frontier: &mut Frontier,
            recorded_at: &str,
        ) -> Result<Vec<StoredEvent>> {
            let size = frontier.size();
            let recorded_at = recorded_at.to_owned();
            let new_persons: Vec<&PersonRow> =
                batch.persons.iter().filter(|p| p.expected_version.is_none()).map(|p| &p.row).collect();
            insert_persons(&mut *conn, &new_persons).await?;
            write_search_keys(&mut *conn, &new_persons, false).await?;
            for p in batch.persons.iter().filter(|p| p.expected_version.is_some()) {
                write_person(&mut *conn, p).await?;
                write_search_keys(&mut *conn, &[&p.row], true).await?;
            }
            for c in &batch.cases {
                write_case(&mut *conn, c).await?;
            }
            for b in &batch.biometrics {
                write_biometric(&mut *conn, b).await?;
            }
            let new_households: Vec<&HouseholdRow> =
                batch.households.iter().filter(|h| h.expected_version.is_none()).map(|h| &h.row).collect();
            insert_households(&mut *conn, &new_households).await?;
            for h in batch.households.iter().filter(|h| h.expected_version.is_some()) {
                write_household(&mut *conn, h).await?;
            }

            let mut committed = Vec::with_capacity(batch.events.len());
            let mut nodes = Vec::with_capacity(batch.events.len() * 2);
            let mut subjects = Vec::with_capacity(batch.events.len());
            for (i, ev) in batch.events.into_iter().enumerate() {
                let seq = size + 1 + i as u64;
                let mut body = ev.body;
                body.insert("seq".into(), serde_json::Value::from(seq));
                body.insert("recorded_at".into(), serde_json::Value::from(recorded_at.clone()));
                let text = crate::canonical::to_canonical_string(&serde_json::Value::Object(body));
                let leaf = thabian_ledger::leaf_hash(text.as_bytes());
                let mut seen = std::collections::BTreeSet::new();
                for pin in &ev.subjects {
                    if seen.insert(pin.as_str()) {
                        subjects.push((pin.clone(), seq));
                    }
                }
                let completed = frontier
                    .append(leaf)
                    .map_err(|e| StoreError::Corrupt(format!("log frontier: {e}")))?;
                nodes.extend(completed);
                committed.push(StoredEvent {
                    seq,
                    id: ev.id,
                    kind: ev.kind,
                    subjects: ev.subjects,
                    area_path: ev.area_path,
                    effective: ev.effective,
                    recorded_at: recorded_at.clone(),
                    actor: ev.actor,
                    office: ev.office,
                    idempotency_key: ev.idempotency_key,
                    body: text,
                    leaf_hash: leaf,
                });
            }
            for chunk in committed.chunks(<$store>::BULK_ROWS) {
                let sql = crate::common::multi_row_insert(
                    "INSERT INTO events (seq, id, kind, subjects, area_path, effective, recorded_at, actor, office, \
                     idempotency_key, body, leaf_hash)",
                    12, chunk.len(), "", <$store>::NUMBERED_PARAMS,
                );
                let mut q = sqlx::query(&sql);
                for e in chunk {
                    q = q.bind(to_i64(e.seq)).bind(&e.id).bind(&e.kind).bind(e.subjects.join(" ")).bind(&e.area_path)
                        .bind(&e.effective).bind(&e.recorded_at).bind(&e.actor).bind(&e.office)
                        .bind(&e.idempotency_key).bind(&e.body).bind(e.leaf_hash.to_vec());
                }
                match q.execute(&mut *conn).await {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::Duplicate { what: "event", key: chunk[0].id.clone() })
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            for chunk in subjects.chunks(<$store>::BULK_ROWS * 2) {
                let sql = crate::common::multi_row_insert(
                    "INSERT INTO event_subjects (pin, seq)", 2, chunk.len(), "", <$store>::NUMBERED_PARAMS,
                );
                let mut q = sqlx::query(&sql);
                for (pin, seq) in chunk {
                    q = q.bind(pin).bind(to_i64(*seq));
                }
                q.execute(&mut *conn).await?;
            }
            for chunk in nodes.chunks(<$store>::BULK_ROWS * 2) {
                let sql = crate::common::multi_row_insert(
                    "INSERT INTO merkle_nodes (level, idx, hash)", 3, chunk.len(), "", <$store>::NUMBERED_PARAMS,
                );
                let mut q = sqlx::query(&sql);
                for (node, hash) in chunk {
                    q = q.bind(i32::from(node.level)).bind(to_i64(node.index)).bind(hash.to_vec());
                }
                q.execute(&mut *conn).await?;
            }

            let access: Vec<AccessRecord> = batch
                .access
                .into_iter()
                .map(|mut a| {
                    a.event_seq = a
                        .event_seq
                        .and_then(|i| committed.get(usize::try_from(i).unwrap_or(usize::MAX)))
                        .map(|e| e.seq);
                    a
                })
                .collect();
            insert_access_rows(&mut *conn, &access).await?;

            if let Some(idem) = &batch.idempotency {
                let seqs: Vec<String> = committed.iter().map(|e| e.seq.to_string()).collect();
                let inserted = sqlx::query(
                    "INSERT INTO idempotency (key, request_hash, result, seqs, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&idem.key)
                .bind(&idem.request_hash)
                .bind(&idem.result)
                .bind(seqs.join(","))
                .bind(&recorded_at)
                .execute(&mut *conn)
                .await;
                match inserted {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::Duplicate { what: "idempotency key", key: idem.key.clone() })
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(committed)
        }

        async fn write_head(
            conn: &mut <$db as sqlx::Database>::Connection,
            frontier: &Frontier,
            last_recorded_at: &str,
        ) -> Result<()> {
            sqlx::query("UPDATE log_head SET size = $1, frontier = $2, last_recorded_at = $3 WHERE id = 1")
                .bind(to_i64(frontier.size()))
                .bind(frontier.to_bytes())
                .bind(last_recorded_at)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        /// The match records of these persons (those that have one), in no particular order.
        async fn read_match_records(
            conn: &mut <$db as sqlx::Database>::Connection,
            pins: &[String],
        ) -> Result<Vec<MatchRow>> {
            let mut out = Vec::with_capacity(pins.len());
            for chunk in pins.chunks(<$store>::BULK_ROWS * 2) {
                let sql = format!(
                    "SELECT pin, residence_path, record FROM person_match WHERE pin IN ({})",
                    <$store>::in_list(1, chunk.len())
                );
                let q = <$store>::bind_list(sqlx::query(&sql), chunk);
                for row in q.fetch_all(&mut *conn).await? {
                    out.push(MatchRow {
                        pin: row.try_get("pin")?,
                        residence_path: row.try_get("residence_path")?,
                        record: row.try_get("record")?,
                    });
                }
            }
            Ok(out)
        }

        #[async_trait::async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn commit(&self, batch: WriteBatch) -> Result<Vec<StoredEvent>> {
                self.commit_many(vec![batch])
                    .await?
                    .pop()
                    .unwrap_or_else(|| Err(StoreError::Corrupt("commit_many returned no result".into())))
            }

            async fn commit_many(&self, batches: Vec<WriteBatch>) -> Result<Vec<Result<Vec<StoredEvent>>>> {
                let mut tx = self.begin_write().await?;
                let head = sqlx::query(Self::LOCK_HEAD).fetch_one(&mut *tx).await?;
                let size = to_u64(head.try_get("size")?);
                let frontier_bytes: Vec<u8> = head.try_get("frontier")?;
                let mut last_recorded_at: String = head.try_get("last_recorded_at")?;
                let mut frontier = Frontier::from_bytes(&frontier_bytes)
                    .map_err(|e| StoreError::Corrupt(format!("log frontier: {e}")))?;
                if frontier.size() != size {
                    return Err(StoreError::Corrupt(format!(
                        "log frontier covers {} events, log head says {size}",
                        frontier.size()
                    )));
                }
                let mut results = Vec::with_capacity(batches.len());
                if batches.len() == 1 {
                    // One batch: the transaction is its savepoint. SQLite would otherwise copy
                    // every page the batch touches into a savepoint journal first.
                    for batch in batches {
                        let now = format_time(batch.now);
                        let recorded_at = if now > last_recorded_at { now } else { last_recorded_at.clone() };
                        match append_batch(&mut tx, batch, &mut frontier, &recorded_at).await {
                            Ok(events) => {
                                if !events.is_empty() {
                                    last_recorded_at = recorded_at;
                                }
                                results.push(Ok(events));
                            }
                            // Dropping the transaction rolls it back.
                            Err(e) => return Ok(vec![Err(e)]),
                        }
                    }
                    if frontier.size() != size {
                        write_head(&mut tx, &frontier, &last_recorded_at).await?;
                    }
                    tx.commit().await?;
                    return Ok(results);
                }
                for batch in batches {
                    // Transaction time never goes backwards along the log, whatever the nodes' clocks say.
                    let now = format_time(batch.now);
                    let recorded_at = if now > last_recorded_at { now } else { last_recorded_at.clone() };
                    let saved = frontier.clone();
                    // Each batch in its own savepoint: one refused batch leaves the others whole.
                    let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
                    match append_batch(&mut savepoint, batch, &mut frontier, &recorded_at).await {
                        Ok(events) => {
                            savepoint.commit().await?;
                            if !events.is_empty() {
                                last_recorded_at = recorded_at;
                            }
                            results.push(Ok(events));
                        }
                        Err(e) => {
                            savepoint.rollback().await?;
                            frontier = saved;
                            results.push(Err(e));
                        }
                    }
                }
                if frontier.size() != size {
                    write_head(&mut tx, &frontier, &last_recorded_at).await?;
                }
                tx.commit().await?;
                Ok(results)
            }

            async fn log_size(&self) -> Result<u64> {
                let row = sqlx::query("SELECT size FROM log_head WHERE id = 1").fetch_one(self.read_pool()).await?;
                Ok(to_u64(row.try_get("size")?))
            }

            async fn event(&self, seq: u64) -> Result<Option<StoredEvent>> {
                let sql = format!("SELECT {EVENT_COLUMNS} FROM events e WHERE e.seq = $1");
                let row = sqlx::query(&sql).bind(to_i64(seq)).fetch_optional(self.read_pool()).await?;
                row.as_ref().map(event_from_row).transpose()
            }

            async fn events_after(&self, after: u64, limit: u32, filter: &FeedFilter) -> Result<Vec<StoredEvent>> {
                let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events e WHERE e.seq > $1");
                let mut n = 2;
                if filter.area_prefix.is_some() {
                    // `area_path` is a space-separated list of paths, each starting with '/'.
                    sql.push_str(&format!(" AND (' ' || e.area_path) LIKE ${n}"));
                    n += 1;
                }
                if !filter.kinds.is_empty() {
                    let marks: Vec<String> = (0..filter.kinds.len()).map(|i| format!("${}", n + i)).collect();
                    sql.push_str(&format!(" AND e.kind IN ({})", marks.join(", ")));
                    n += filter.kinds.len();
                }
                sql.push_str(&format!(" ORDER BY e.seq LIMIT ${n}"));
                let mut q = sqlx::query(&sql).bind(to_i64(after));
                if let Some(prefix) = &filter.area_prefix {
                    q = q.bind(format!("% {prefix}%"));
                }
                for kind in &filter.kinds {
                    q = q.bind(kind);
                }
                let rows = q.bind(i64::from(limit)).fetch_all(self.read_pool()).await?;
                rows.iter().map(event_from_row).collect()
            }

            async fn person_events(&self, pin: &str, max_seq: Option<u64>) -> Result<Vec<StoredEvent>> {
                let sql = format!(
                    "SELECT {EVENT_COLUMNS} FROM event_subjects s JOIN events e ON e.seq = s.seq \
                     WHERE s.pin = $1 AND s.seq <= $2 ORDER BY s.seq"
                );
                let rows = sqlx::query(&sql)
                    .bind(pin)
                    .bind(max_seq.map(to_i64).unwrap_or(i64::MAX))
                    .fetch_all(self.read_pool())
                    .await?;
                rows.iter().map(event_from_row).collect()
            }

            async fn seq_known_at(&self, at: &str) -> Result<u64> {
                let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM events WHERE recorded_at <= $1")
                    .bind(at)
                    .fetch_one(self.read_pool())
                    .await?;
                Ok(to_u64(row.try_get("seq")?))
            }

            async fn merkle_nodes(
                &self,
                ids: &[thabian_ledger::NodeId],
            ) -> Result<std::collections::HashMap<thabian_ledger::NodeId, thabian_ledger::Hash>> {
                let mut out = std::collections::HashMap::with_capacity(ids.len());
                // One statement per level keeps the SQL portable; proofs touch O(log n) levels.
                let mut by_level: std::collections::BTreeMap<u8, Vec<i64>> = Default::default();
                for id in ids {
                    by_level.entry(id.level).or_default().push(to_i64(id.index));
                }
                for (level, indexes) in by_level {
                    for chunk in indexes.chunks(500) {
                        let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                        let sql = format!(
                            "SELECT idx, hash FROM merkle_nodes WHERE level = $1 AND idx IN ({})",
                            marks.join(", ")
                        );
                        let mut q = sqlx::query(&sql).bind(i32::from(level));
                        for idx in chunk {
                            q = q.bind(*idx);
                        }
                        for row in q.fetch_all(self.read_pool()).await? {
                            let hash: Vec<u8> = row.try_get("hash")?;
                            let id = thabian_ledger::NodeId { level, index: to_u64(row.try_get("idx")?) };
                            out.insert(id, hash_from(&hash)?);
                        }
                    }
                }
                Ok(out)
            }

            async fn find_idempotency(&self, key: &str) -> Result<Option<StoredIdempotency>> {
                let row = sqlx::query("SELECT request_hash, result, seqs FROM idempotency WHERE key = $1")
                    .bind(key)
                    .fetch_optional(self.read_pool())
                    .await?;
                row.map(|r| {
                    Ok(StoredIdempotency {
                        request_hash: r.try_get("request_hash")?,
                        result: r.try_get("result")?,
                        seqs: parse_seqs(&r.try_get::<String, _>("seqs")?),
                    })
                })
                .transpose()
            }

            async fn add_log_key(&self, key_id: &str, vkey: &str, created_at: &str) -> Result<()> {
                sqlx::query(
                    "INSERT INTO log_keys (key_id, vkey, created_at) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING",
                )
                .bind(key_id)
                .bind(vkey)
                .bind(created_at)
                .execute(self.write_pool())
                .await?;
                Ok(())
            }

            async fn log_keys(&self) -> Result<Vec<(String, String)>> {
                let rows = sqlx::query("SELECT key_id, vkey FROM log_keys ORDER BY created_at, key_id")
                    .fetch_all(self.read_pool())
                    .await?;
                rows.iter().map(|r| Ok((r.try_get("key_id")?, r.try_get("vkey")?))).collect()
            }

            async fn add_checkpoint(&self, c: &CheckpointRow) -> Result<()> {
                sqlx::query(
                    "INSERT INTO checkpoints (size, root, time, key_id, note) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (size) DO NOTHING",
                )
                .bind(to_i64(c.size))
                .bind(c.root.to_vec())
                .bind(&c.time)
                .bind(&c.key_id)
                .bind(&c.note)
                .execute(self.write_pool())
                .await?;
                Ok(())
            }

            async fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>> {
                let row = sqlx::query("SELECT size, root, time, key_id, note FROM checkpoints ORDER BY size DESC LIMIT 1")
                    .fetch_optional(self.read_pool())
                    .await?;
                row.as_ref().map(checkpoint_from_row).transpose()
            }

            async fn checkpoint(&self, size: u64) -> Result<Option<CheckpointRow>> {
                let row = sqlx::query("SELECT size, root, time, key_id, note FROM checkpoints WHERE size = $1")
                    .bind(to_i64(size))
                    .fetch_optional(self.read_pool())
                    .await?;
                row.as_ref().map(checkpoint_from_row).transpose()
            }

            async fn checkpoints(&self) -> Result<Vec<CheckpointRow>> {
                let rows = sqlx::query("SELECT size, root, time, key_id, note FROM checkpoints ORDER BY size")
                    .fetch_all(self.read_pool())
                    .await?;
                rows.iter().map(checkpoint_from_row).collect()
            }

            async fn person(&self, pin: &str) -> Result<Option<PersonRow>> {
                let sql = format!("SELECT {PERSON_COLUMNS} FROM persons WHERE pin = $1");
                let row = sqlx::query(&sql).bind(pin).fetch_optional(self.read_pool()).await?;
                row.as_ref().map(person_from_row).transpose()
            }

            async fn persons(&self, pins: &[String]) -> Result<Vec<PersonRow>> {
                let mut out = Vec::with_capacity(pins.len());
                for chunk in pins.chunks(<$store>::BULK_ROWS * 2) {
                    let sql = format!(
                        "SELECT {PERSON_COLUMNS} FROM persons WHERE pin IN ({}) ORDER BY pin",
                        <$store>::in_list(1, chunk.len())
                    );
                    let q = <$store>::bind_list(sqlx::query(&sql), chunk);
                    for row in q.fetch_all(self.read_pool()).await? {
                        out.push(person_from_row(&row)?);
                    }
                }
                Ok(out)
            }

            async fn children(&self, pin: &str) -> Result<Vec<PersonRow>> {
                let sql = format!("SELECT {PERSON_COLUMNS} FROM persons WHERE father = $1 OR mother = $1 ORDER BY pin");
                let rows = sqlx::query(&sql).bind(pin).fetch_all(self.read_pool()).await?;
                rows.iter().map(person_from_row).collect()
            }

            async fn household(&self, id: &str) -> Result<Option<HouseholdRow>> {
                let row = sqlx::query("SELECT id, version, head, area_path, record FROM households WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.read_pool())
                    .await?;
                row.as_ref().map(household_from_row).transpose()
            }

            async fn households(&self, ids: &[String]) -> Result<Vec<HouseholdRow>> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(<$store>::BULK_ROWS * 2) {
                    let sql = format!(
                        "SELECT id, version, head, area_path, record FROM households WHERE id IN ({})",
                        <$store>::in_list(1, chunk.len())
                    );
                    let q = <$store>::bind_list(sqlx::query(&sql), chunk);
                    for row in q.fetch_all(self.read_pool()).await? {
                        out.push(household_from_row(&row)?);
                    }
                }
                Ok(out)
            }

            async fn household_members(&self, id: &str) -> Result<Vec<PersonRow>> {
                let sql = format!("SELECT {PERSON_COLUMNS} FROM persons WHERE household = $1 ORDER BY pin");
                let rows = sqlx::query(&sql).bind(id).fetch_all(self.read_pool()).await?;
                rows.iter().map(person_from_row).collect()
            }

            async fn all_persons(&self, after_pin: &str, limit: u32) -> Result<Vec<PersonRow>> {
                let sql = format!("SELECT {PERSON_COLUMNS} FROM persons WHERE pin > $1 ORDER BY pin LIMIT $2");
                let rows = sqlx::query(&sql)
                    .bind(after_pin)
                    .bind(i64::from(limit))
                    .fetch_all(self.read_pool())
                    .await?;
                rows.iter().map(person_from_row).collect()
            }

            async fn all_households(&self) -> Result<Vec<HouseholdRow>> {
                let rows = sqlx::query("SELECT id, version, head, area_path, record FROM households ORDER BY id")
                    .fetch_all(self.read_pool())
                    .await?;
                rows.iter().map(household_from_row).collect()
            }

            async fn subjects_after(&self, after_pin: &str, limit: u32) -> Result<Vec<String>> {
                let rows = sqlx::query(
                    "SELECT DISTINCT pin FROM event_subjects WHERE pin > $1 ORDER BY pin LIMIT $2",
                )
                .bind(after_pin)
                .bind(i64::from(limit))
                .fetch_all(self.read_pool())
                .await?;
                rows.iter().map(|r| Ok(r.try_get("pin")?)).collect()
            }

            async fn refresh_statistics(&self) -> Result<()> {
                sqlx::query(<$store>::ANALYZE).execute(self.write_pool()).await?;
                Ok(())
            }

            async fn clear_projections(&self) -> Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM persons").execute(&mut *tx).await?;
                sqlx::query("DELETE FROM person_keys").execute(&mut *tx).await?;
                sqlx::query(<$store>::CLEAR_STAGED_KEYS).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM person_match").execute(&mut *tx).await?;
                sqlx::query("DELETE FROM households").execute(&mut *tx).await?;
                sqlx::query("DELETE FROM review_cases").execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn put_review_cases(&self, cases: &[CaseRow]) -> Result<()> {
                let mut tx = self.begin_write().await?;
                for c in cases {
                    write_case(&mut *tx, &Versioned { row: c.clone(), expected_version: None }).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn put_projections(&self, persons: &[PersonRow], households: &[HouseholdRow]) -> Result<()> {
                let mut tx = self.begin_write().await?;
                let mut rows = persons.iter().collect::<Vec<_>>();
                rows.sort_by(|a, b| a.pin.cmp(&b.pin));
                insert_persons(&mut tx, &rows).await?;
                stage_search_keys(&mut tx, &rows).await?;
                insert_households(&mut tx, &households.iter().collect::<Vec<_>>()).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn index_staged_keys(&self) -> Result<u64> {
                let mut tx = self.begin_write().await?;
                for setting in <$store>::BULK_INDEX_SETTINGS {
                    sqlx::query(setting).execute(&mut *tx).await?;
                }
                let staged: i64 = sqlx::query("SELECT COUNT(*) AS n FROM person_keys_staged")
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
                sqlx::query("DROP INDEX person_keys_pin").execute(&mut *tx).await?;
                // `WHERE true`: SQLite reads `ON CONFLICT` after a bare `FROM t` as a join's `ON`.
                sqlx::query(
                    "INSERT INTO person_keys (key, pin) SELECT key, pin FROM person_keys_staged \
                     WHERE true ORDER BY key, pin ON CONFLICT DO NOTHING",
                )
                .execute(&mut *tx)
                .await?;
                sqlx::query("CREATE INDEX person_keys_pin ON person_keys (pin)").execute(&mut *tx).await?;
                sqlx::query(<$store>::CLEAR_STAGED_KEYS).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(to_u64(staged))
            }

            async fn search_candidates(&self, keys: &[String], per_key_limit: u32) -> Result<Vec<(String, String)>> {
                let mut out = Vec::new();
                // One statement per 100 keys: each key's postings read through the primary key,
                // cut at the limit, so a common key cannot make a search scan the index.
                for chunk in keys.chunks(100) {
                    let numbered = <$store>::NUMBERED_PARAMS;
                    let parts: Vec<String> = (0..chunk.len())
                        .map(|i| {
                            let (k, l) = if numbered {
                                (format!("${}", 2 * i + 1), format!("${}", 2 * i + 2))
                            } else {
                                ("?".to_owned(), "?".to_owned())
                            };
                            format!("SELECT key, pin FROM (SELECT key, pin FROM person_keys WHERE key = {k} LIMIT {l}) AS k{i}")
                        })
                        .collect();
                    let sql = parts.join(" UNION ALL ");
                    let mut q = sqlx::query(&sql);
                    for key in chunk {
                        q = q.bind(key).bind(i64::from(per_key_limit));
                    }
                    for row in q.fetch_all(self.read_pool()).await? {
                        out.push((row.try_get("key")?, row.try_get("pin")?));
                    }
                }
                Ok(out)
            }

            async fn ranked_candidates(&self, keys: &[String], per_key_limit: u32, max: u32) -> Result<RankedCandidates> {
                if keys.is_empty() || max == 0 {
                    return Ok(RankedCandidates::default());
                }
                let limit = per_key_limit.max(1);
                // Each key's postings come back as one row, its PINs joined by commas, and are
                // ranked here: SQLite's GROUP BY sorts the postings through a temporary B-tree
                // (measured at 10M persons: 2.4 of the 4 ms that 6,000 postings and 150 match
                // records took in one statement), and a row per posting would cost a hand-off
                // between sqlx's connection thread and this task each.
                let numbered = <$store>::NUMBERED_PARAMS;
                // Both statements on one connection: one acquisition, one hand-off fewer.
                let mut conn = self.read_pool().acquire().await?;
                let mut postings: Vec<Option<String>> = Vec::with_capacity(keys.len());
                for chunk in keys.chunks(100) {
                    let parts: Vec<String> = (0..chunk.len())
                        .map(|i| {
                            let k = if numbered { format!("${}", i + 1) } else { "?".to_owned() };
                            format!(
                                "SELECT (SELECT {} FROM (SELECT pin FROM person_keys WHERE key = {k} LIMIT {limit}) AS k{i}) AS pins",
                                <$store>::JOIN_PINS
                            )
                        })
                        .collect();
                    let sql = parts.join(" UNION ALL ");
                    let mut q = sqlx::query(&sql);
                    for key in chunk {
                        q = q.bind(key);
                    }
                    // The ranking does not depend on the keys' order: the rows need not say
                    // which key they are.
                    for row in q.fetch_all(&mut *conn).await? {
                        postings.push(row.try_get("pins")?);
                    }
                }
                let (ranked, deepest) = crate::common::rank_postings(&postings, limit);
                let found = ranked.len() as u64;
                let top: Vec<(String, i64)> = ranked.into_iter().take(max as usize).collect();
                let pins: Vec<String> = top.iter().map(|(pin, _)| pin.clone()).collect();
                let mut records: std::collections::HashMap<String, MatchRow> =
                    read_match_records(&mut conn, &pins)
                    .await?
                    .into_iter()
                    .map(|m| (m.pin.clone(), m))
                    .collect();
                Ok(RankedCandidates {
                    candidates: top
                        .into_iter()
                        .map(|(pin, rank)| RankedCandidate { matched: records.remove(&pin), pin, rank })
                        .collect(),
                    found,
                    deepest,
                })
            }

            async fn key_tokens(&self, prefix: &str, suffix_len: u32, limit: u32) -> Result<Vec<String>> {
                // The end of the prefix range: the prefix with its last byte incremented.
                let mut end = prefix.as_bytes().to_vec();
                match end.last_mut() {
                    Some(b) if *b < 0x7f => *b += 1,
                    _ => return Ok(Vec::new()),
                }
                let end = String::from_utf8(end).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                // From a token's first key to the first key after `<prefix><token>:~`: the keys of
                // one token are contiguous (bytewise order), and the suffix is ':' and ASCII
                // letters and digits, all below '~'.
                let sql = format!(
                    "WITH RECURSIVE t(k, n) AS ( \
                       SELECT (SELECT key FROM person_keys WHERE key > $1 AND key < $2 ORDER BY key LIMIT 1), 1 \
                       UNION ALL \
                       SELECT (SELECT key FROM person_keys \
                               WHERE key > substr(t.k, 1, length(t.k) - {suffix_len}) || ':~' AND key < $2 \
                               ORDER BY key LIMIT 1), t.n + 1 \
                       FROM t WHERE t.k IS NOT NULL AND t.n < {limit}) \
                     SELECT k FROM t WHERE k IS NOT NULL"
                );
                let keys: Vec<String> = sqlx::query_scalar(&sql)
                    .bind(prefix)
                    .bind(&end)
                    .fetch_all(self.read_pool())
                    .await?;
                let suffix = suffix_len as usize;
                Ok(keys
                    .into_iter()
                    .filter_map(|k| {
                        let token = k.get(prefix.len()..k.len().checked_sub(suffix)?)?;
                        (!token.is_empty()).then(|| token.to_owned())
                    })
                    .collect())
            }

            async fn keys_between(&self, after: &str, before: &str, limit: u32) -> Result<Vec<(String, String)>> {
                let rows = sqlx::query(
                    "SELECT key, pin FROM person_keys WHERE key > $1 AND key < $2 ORDER BY key, pin LIMIT $3",
                )
                .bind(after)
                .bind(before)
                .bind(i64::from(limit))
                .fetch_all(self.read_pool())
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("key")?, r.try_get("pin")?)))
                    .collect()
            }

            async fn match_records_after(&self, after_pin: &str, limit: u32) -> Result<Vec<(String, Option<Vec<u8>>)>> {
                let rows = sqlx::query(
                    "SELECT p.pin, m.record FROM persons p LEFT JOIN person_match m ON m.pin = p.pin \
                     WHERE p.pin > $1 ORDER BY p.pin LIMIT $2",
                )
                .bind(after_pin)
                .bind(i64::from(limit))
                .fetch_all(self.read_pool())
                .await?;
                rows.iter().map(|r| Ok((r.try_get("pin")?, r.try_get("record")?))).collect()
            }

            async fn match_records(&self, pins: &[String]) -> Result<Vec<MatchRow>> {
                let mut conn = self.read_pool().acquire().await?;
                read_match_records(&mut conn, pins).await
            }

            async fn key_postings(&self, after: &(String, String), limit: u32) -> Result<Vec<(String, String)>> {
                let rows = sqlx::query(
                    "SELECT key, pin FROM person_keys WHERE (key, pin) > ($1, $2) \
                     ORDER BY key, pin LIMIT $3",
                )
                .bind(&after.0)
                .bind(&after.1)
                .bind(i64::from(limit))
                .fetch_all(self.read_pool())
                .await?;
                rows.iter().map(|r| Ok((r.try_get("key")?, r.try_get("pin")?))).collect()
            }

            async fn review_case(&self, id: &str) -> Result<Option<CaseRow>> {
                let row = sqlx::query(
                    "SELECT id, version, status, area_path, created_at, record FROM review_cases WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(self.read_pool())
                .await?;
                row.as_ref().map(case_from_row).transpose()
            }

            async fn publish(&self, doc: &PublishedDocument) -> Result<()> {
                sqlx::query(
                    "INSERT INTO published_documents (name, media_type, body, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO UPDATE SET media_type = excluded.media_type, body = excluded.body, \
                     updated_at = excluded.updated_at",
                )
                .bind(&doc.name)
                .bind(&doc.media_type)
                .bind(&doc.body)
                .bind(&doc.updated_at)
                .execute(self.write_pool())
                .await?;
                Ok(())
            }

            async fn published(&self, name: &str) -> Result<Option<PublishedDocument>> {
                let row = sqlx::query(
                    "SELECT name, media_type, body, updated_at FROM published_documents WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(self.read_pool())
                .await?;
                row.map(|r| -> Result<PublishedDocument> {
                    Ok(PublishedDocument {
                        name: r.try_get("name")?,
                        media_type: r.try_get("media_type")?,
                        body: r.try_get("body")?,
                        updated_at: r.try_get("updated_at")?,
                    })
                })
                .transpose()
            }

            async fn all_published(&self) -> Result<Vec<PublishedDocument>> {
                let rows = sqlx::query(
                    "SELECT name, media_type, body, updated_at FROM published_documents ORDER BY name",
                )
                .fetch_all(self.read_pool())
                .await?;
                rows.iter()
                    .map(|r| -> Result<PublishedDocument> {
                        Ok(PublishedDocument {
                            name: r.try_get("name")?,
                            media_type: r.try_get("media_type")?,
                            body: r.try_get("body")?,
                            updated_at: r.try_get("updated_at")?,
                        })
                    })
                    .collect()
            }

            async fn biometric(&self, id: &str) -> Result<Option<BiometricRow>> {
                let row = sqlx::query(
                    "SELECT id, pin, card, format, sha256, key_id, nonce, ciphertext, created_at \
                     FROM biometric_samples WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(self.read_pool())
                .await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some(BiometricRow {
                    id: r.try_get("id")?,
                    pin: r.try_get("pin")?,
                    card: r.try_get("card")?,
                    format: r.try_get("format")?,
                    sha256: r.try_get("sha256")?,
                    key_id: r.try_get("key_id")?,
                    nonce: r.try_get("nonce")?,
                    ciphertext: r.try_get("ciphertext")?,
                    created_at: r.try_get("created_at")?,
                }))
            }

            async fn existing_review_cases(&self, ids: &[String]) -> Result<Vec<String>> {
                let mut out = Vec::new();
                for chunk in ids.chunks(<$store>::BULK_ROWS * 2) {
                    let sql = format!(
                        "SELECT id FROM review_cases WHERE id IN ({}) ORDER BY id",
                        <$store>::in_list(1, chunk.len())
                    );
                    let q = <$store>::bind_list(sqlx::query(&sql), chunk);
                    for row in q.fetch_all(self.read_pool()).await? {
                        out.push(row.try_get("id")?);
                    }
                }
                Ok(out)
            }

            async fn review_cases(&self, status: Option<&str>, after_id: &str, limit: u32) -> Result<Vec<CaseRow>> {
                let rows = sqlx::query(
                    "SELECT id, version, status, area_path, created_at, record FROM review_cases \
                     WHERE ($1 = '' OR status = $1) AND id > $2 ORDER BY id LIMIT $3",
                )
                .bind(status.unwrap_or(""))
                .bind(after_id)
                .bind(i64::from(limit))
                .fetch_all(self.read_pool())
                .await?;
                rows.iter().map(case_from_row).collect()
            }

            async fn put_linkage_model(&self, m: &LinkageModelRow) -> Result<()> {
                sqlx::query("INSERT INTO linkage_models (id, created_at, model) VALUES ($1, $2, $3)")
                    .bind(&m.id)
                    .bind(&m.created_at)
                    .bind(&m.model)
                    .execute(self.write_pool())
                    .await?;
                Ok(())
            }

            async fn latest_linkage_model(&self) -> Result<Option<LinkageModelRow>> {
                let row = sqlx::query("SELECT id, created_at, model FROM linkage_models ORDER BY id DESC LIMIT 1")
                    .fetch_optional(self.read_pool())
                    .await?;
                match row {
                    Some(r) => Ok(Some(LinkageModelRow {
                        id: r.try_get("id")?,
                        created_at: r.try_get("created_at")?,
                        model: r.try_get("model")?,
                    })),
                    None => Ok(None),
                }
            }

            async fn reserve_import_keys(&self, kind: &str, keys: &[ImportKey]) -> Result<()> {
                if keys.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin_write().await?;
                for chunk in keys.chunks(<$store>::BULK_ROWS) {
                    let sql = crate::common::multi_row_insert(
                        "INSERT INTO import_keys (kind, source_id, value, digest)", 4, chunk.len(), " ON CONFLICT DO NOTHING",
                        <$store>::NUMBERED_PARAMS,
                    );
                    let mut q = sqlx::query(&sql);
                    for k in chunk {
                        q = q.bind(kind).bind(&k.source_id).bind(&k.value).bind(&k.digest);
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn import_keys(&self, kind: &str, source_ids: &[String]) -> Result<Vec<ImportKey>> {
                let mut out = Vec::with_capacity(source_ids.len());
                for chunk in source_ids.chunks(<$store>::BULK_ROWS * 2) {
                    let sql = format!(
                        "SELECT source_id, value, digest FROM import_keys WHERE kind = {} AND source_id IN ({})",
                        crate::common::marks(1, 1, <$store>::NUMBERED_PARAMS),
                        <$store>::in_list(2, chunk.len())
                    );
                    let q = <$store>::bind_list(sqlx::query(&sql).bind(kind), chunk);
                    for row in q.fetch_all(self.read_pool()).await? {
                        out.push(ImportKey {
                            source_id: row.try_get("source_id")?,
                            value: row.try_get("value")?,
                            digest: row.try_get("digest")?,
                        });
                    }
                }
                Ok(out)
            }

            async fn taken(&self, kind: &str, values: &[String]) -> Result<Vec<String>> {
                let (table, column) = match kind {
                    IMPORT_PERSON => ("persons", "pin"),
                    IMPORT_HOUSEHOLD => ("households", "id"),
                    other => return Err(StoreError::Corrupt(format!("unknown import key kind {other:?}"))),
                };
                let mut out = Vec::new();
                for chunk in values.chunks(<$store>::BULK_ROWS * 2) {
                    let numbered = <$store>::NUMBERED_PARAMS;
                    let kind_mark = crate::common::marks(1, 1, numbered);
                    let values = <$store>::in_list(2, chunk.len());
                    let sql = format!(
                        "SELECT value AS v FROM import_keys WHERE kind = {kind_mark} AND value IN ({values}) \
                         UNION SELECT {column} AS v FROM {table} WHERE {column} IN ({values})"
                    );
                    let mut q = <$store>::bind_list(sqlx::query(&sql).bind(kind), chunk);
                    // Anonymous parameters are bound by position: the list once more.
                    if !numbered {
                        q = <$store>::bind_list(q, chunk);
                    }
                    for row in q.fetch_all(self.read_pool()).await? {
                        out.push(row.try_get("v")?);
                    }
                }
                Ok(out)
            }

            async fn insert_official(&self, o: &OfficialRow, audit: &AccessRecord) -> Result<()> {
                let mut tx = self.begin_write().await?;
                let inserted = sqlx::query(
                    "INSERT INTO officials (id, name, role, jurisdiction, office, created_at, disabled_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&o.id)
                .bind(&o.name)
                .bind(&o.role)
                .bind(&o.jurisdiction)
                .bind(&o.office)
                .bind(&o.created_at)
                .bind(&o.disabled_at)
                .execute(&mut *tx)
                .await;
                match inserted {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::Duplicate { what: "official", key: o.id.clone() })
                    }
                    Err(e) => return Err(e.into()),
                }
                insert_access(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn official(&self, id: &str) -> Result<Option<OfficialRow>> {
                let row = sqlx::query(
                    "SELECT id, name, role, jurisdiction, office, created_at, disabled_at FROM officials WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(self.read_pool())
                .await?;
                row.as_ref().map(official_from_row).transpose()
            }

            async fn officials(&self) -> Result<Vec<OfficialRow>> {
                let rows = sqlx::query(
                    "SELECT id, name, role, jurisdiction, office, created_at, disabled_at FROM officials ORDER BY id",
                )
                .fetch_all(self.read_pool())
                .await?;
                rows.iter().map(official_from_row).collect()
            }

            async fn disable_official(&self, id: &str, at: &str, audit: &AccessRecord) -> Result<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query("UPDATE officials SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL")
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_access(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn insert_token(&self, t: &TokenRow, audit: &AccessRecord) -> Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO api_tokens (id, hash, official_id, label, created_at, expires_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&t.id)
                .bind(&t.hash)
                .bind(&t.official_id)
                .bind(&t.label)
                .bind(&t.created_at)
                .bind(&t.expires_at)
                .bind(&t.revoked_at)
                .execute(&mut *tx)
                .await?;
                insert_access(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>> {
                let row = sqlx::query(
                    "SELECT id, hash, official_id, label, created_at, expires_at, revoked_at FROM api_tokens WHERE hash = $1",
                )
                .bind(hash)
                .fetch_optional(self.read_pool())
                .await?;
                row.as_ref().map(token_from_row).transpose()
            }

            async fn credential(&self, hash: &str) -> Result<Option<(TokenRow, OfficialRow)>> {
                let row = sqlx::query(
                    "SELECT t.id, t.hash, t.official_id, t.label, t.created_at, t.expires_at, t.revoked_at, \
                     o.name AS o_name, o.role AS o_role, o.jurisdiction AS o_jurisdiction, o.office AS o_office, \
                     o.created_at AS o_created_at, o.disabled_at AS o_disabled_at \
                     FROM api_tokens t JOIN officials o ON o.id = t.official_id WHERE t.hash = $1",
                )
                .bind(hash)
                .fetch_optional(self.read_pool())
                .await?;
                let Some(r) = row else { return Ok(None) };
                let token = token_from_row(&r)?;
                let official = OfficialRow {
                    id: token.official_id.clone(),
                    name: r.try_get("o_name")?,
                    role: r.try_get("o_role")?,
                    jurisdiction: r.try_get("o_jurisdiction")?,
                    office: r.try_get("o_office")?,
                    created_at: r.try_get("o_created_at")?,
                    disabled_at: r.try_get("o_disabled_at")?,
                };
                Ok(Some((token, official)))
            }

            async fn tokens(&self, official_id: &str) -> Result<Vec<TokenRow>> {
                let rows = sqlx::query(
                    "SELECT id, hash, official_id, label, created_at, expires_at, revoked_at FROM api_tokens \
                     WHERE official_id = $1 ORDER BY created_at, id",
                )
                .bind(official_id)
                .fetch_all(self.read_pool())
                .await?;
                rows.iter().map(token_from_row).collect()
            }

            async fn revoke_token(&self, id: &str, at: &str, audit: &AccessRecord) -> Result<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_access(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn append_access(&self, records: &[AccessRecord]) -> Result<()> {
                if records.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin_write().await?;
                for a in records {
                    insert_access(&mut *tx, a).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn access_for_person(&self, pin: &str, limit: u32) -> Result<Vec<AccessRecord>> {
                let sql = format!("SELECT {ACCESS_COLUMNS} FROM access_log WHERE pin = $1 ORDER BY at DESC, id DESC LIMIT $2");
                let rows = sqlx::query(&sql).bind(pin).bind(i64::from(limit)).fetch_all(self.read_pool()).await?;
                rows.iter().map(access_from_row).collect()
            }

            async fn access_log(&self, after_id: &str, limit: u32) -> Result<Vec<AccessRecord>> {
                let sql = format!("SELECT {ACCESS_COLUMNS} FROM access_log WHERE id > $1 ORDER BY id LIMIT $2");
                let rows = sqlx::query(&sql)
                    .bind(after_id)
                    .bind(i64::from(limit))
                    .fetch_all(self.read_pool())
                    .await?;
                rows.iter().map(access_from_row).collect()
            }
        }
    };
}

pub(crate) use impl_store;
