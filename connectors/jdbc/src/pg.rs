//! PostgreSQL through tokio-postgres: one connection per task, statements prepared once
//! and reused, every value bound as text in a `text[]` per column and cast by the server
//! to the column's own type (so any type PostgreSQL can read from text works, arrays too).

use std::collections::HashMap;
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

use crate::cell::{self, Cell};
use crate::config::{InsertMode, Settings};
use crate::db::{ColumnInfo, DbError, TableInfo, Work};
use crate::sql::Sql;
use crate::table::TableId;

pub struct PgTarget {
    client: Client,
    statements: HashMap<String, Statement>,
    connection: tokio::task::JoinHandle<()>,
}

impl Drop for PgTarget {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// The message and class of a tokio-postgres error.
pub fn classify(e: &tokio_postgres::Error, what: &str) -> DbError {
    let Some(db) = e.as_db_error() else {
        return DbError::Transient(format!("{what}: {e}"));
    };
    let message = format!(
        "{what}: {}: {}{}",
        db.severity(),
        db.message(),
        db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
    );
    let code = db.code().code();
    match &code[..2] {
        "08" | "40" | "53" | "55" | "57" | "58" | "25" | "XX" | "HV" => DbError::Transient(message),
        "28" | "3D" => DbError::Fatal(message),
        _ if db.code() == &SqlState::READ_ONLY_SQL_TRANSACTION => DbError::Transient(message),
        _ => DbError::Data(message),
    }
}

impl PgTarget {
    pub async fn connect(settings: &Settings) -> Result<PgTarget, DbError> {
        let url = &settings.url;
        let mut config = tokio_postgres::Config::new();
        config
            .host(&url.host)
            .port(url.port)
            .dbname(&url.database)
            .application_name("weir-jdbc-sink")
            .connect_timeout(url.connect_timeout())
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        if let Some(user) = &settings.user {
            config.user(user);
        }
        if let Some(password) = &settings.password {
            config.password(password.expose());
        }
        if let Some(schema) = url.param("currentSchema") {
            config.options(format!(
                "-c search_path={}",
                schema.replace([' ', '\\'], "")
            ));
        }
        let connected = tokio::time::timeout(url.connect_timeout(), config.connect(NoTls)).await;
        let (client, connection) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                return Err(classify(
                    &e,
                    &format!("cannot connect to {}", url.display()),
                ));
            }
            Err(_) => {
                return Err(DbError::Transient(format!(
                    "cannot connect to {}: no answer within {:?}",
                    url.display(),
                    url.connect_timeout()
                )));
            }
        };
        let target = url.display();
        let connection = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(target = %target, error = %e, "the PostgreSQL connection closed");
            }
        });
        Ok(PgTarget {
            client,
            statements: HashMap::new(),
            connection,
        })
    }

    /// Columns and unique keys of `table` (`None`: no such table).
    pub async fn describe(
        &mut self,
        sql: &Sql,
        table: &TableId,
    ) -> Result<Option<TableInfo>, DbError> {
        if let Some(catalog) = table.catalog() {
            let current: String = self
                .client
                .query_one("SELECT current_database()", &[])
                .await
                .map_err(|e| classify(&e, "cannot read the current database"))?
                .get(0);
            if sql.stored_name(catalog) != current {
                return Err(DbError::Data(format!(
                    "table {table} names the database {catalog:?}, but the connection is to {current:?} (PostgreSQL cannot write across databases; set the table name format)"
                )));
            }
        }
        let name = sql.stored_table(table);
        let what = format!("cannot describe table {table}");
        let rows = self
            .client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
                 format_type(a.atttypid, NULL) \
                 FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 \
                 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&name],
            )
            .await
            .map_err(|e| classify(&e, &what))?;
        if rows.is_empty() {
            let exists: bool = self
                .client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
                .await
                .map_err(|e| classify(&e, &what))?
                .get(0);
            if !exists {
                return Ok(None);
            }
        }
        let columns = rows
            .iter()
            .map(|r| ColumnInfo {
                name: r.get(0),
                type_name: r.get(1),
                cast_type: r.get(2),
            })
            .collect();
        let unique = self
            .client
            .query(
                "SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_index i \
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL \
                 GROUP BY i.indexrelid",
                &[&name],
            )
            .await
            .map_err(|e| classify(&e, &what))?
            .iter()
            .map(|r| r.get::<_, Vec<String>>(0))
            .collect();
        Ok(Some(TableInfo { columns, unique }))
    }

    pub async fn ddl(&mut self, statement: &str) -> Result<(), DbError> {
        self.statements.clear();
        self.client
            .batch_execute(statement)
            .await
            .map_err(|e| classify(&e, &format!("{statement} failed")))
    }

    async fn prepare(&mut self, statement: &str) -> Result<Statement, DbError> {
        if let Some(s) = self.statements.get(statement) {
            return Ok(s.clone());
        }
        let prepared = self
            .client
            .prepare(statement)
            .await
            .map_err(|e| classify(&e, "cannot prepare a statement"))?;
        if self.statements.len() >= 256 {
            self.statements.clear();
        }
        self.statements
            .insert(statement.to_string(), prepared.clone());
        Ok(prepared)
    }

    /// Runs `works` in one transaction. `isolate`: each statement in its own savepoint, and
    /// the ones refused for their data are returned (record indices and reason) instead of
    /// failing the transaction.
    pub async fn apply(
        &mut self,
        sql: &Sql,
        settings: &Settings,
        works: &[Work<'_>],
        isolate: bool,
    ) -> Result<Vec<(Vec<usize>, String)>, DbError> {
        let mut statements = Vec::new();
        for work in works {
            for (text, params) in statements_of(sql, settings, work) {
                let prepared = self.prepare(&text).await?;
                statements.push((prepared, params, work));
            }
        }
        let mut failed = Vec::new();
        let mut refused = Vec::new();
        let mut tx = self
            .client
            .transaction()
            .await
            .map_err(|e| classify(&e, "cannot begin a transaction"))?;
        for (statement, params, work) in &statements {
            let refs: Vec<&(dyn ToSql + Sync)> =
                params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
            let what = format!("writing to table {}", work.table());
            if !isolate {
                tx.execute(statement, &refs)
                    .await
                    .map_err(|e| classify(&e, &what))?;
                continue;
            }
            let savepoint = tx
                .savepoint("weir_record")
                .await
                .map_err(|e| classify(&e, "cannot set a savepoint"))?;
            match savepoint.execute(statement, &refs).await {
                Ok(_) => savepoint
                    .commit()
                    .await
                    .map_err(|e| classify(&e, "cannot release a savepoint"))?,
                Err(e) => match classify(&e, &what) {
                    DbError::Data(reason) => {
                        savepoint
                            .rollback()
                            .await
                            .map_err(|e| classify(&e, "cannot roll back to a savepoint"))?;
                        failed.push((work.indices(), reason));
                        refused.push((failed.len() - 1, *work));
                    }
                    other => return Err(other),
                },
            }
        }
        tx.commit()
            .await
            .map_err(|e| classify(&e, "cannot commit"))?;
        // PostgreSQL's messages rarely name the column ("value too long for type character
        // varying(5)"): find it by casting each value of the refused row alone.
        for (at, work) in refused {
            if let Some(column) = self.culprit(settings, work).await {
                failed[at].1 = format!("{} (column {column:?})", failed[at].1);
            }
        }
        Ok(failed)
    }

    /// The first column of a one-row write whose value its column type refuses: the cast
    /// fails, or a length-bound type would have to cut it.
    async fn culprit<'w>(&self, settings: &Settings, work: &Work<'w>) -> Option<&'w str> {
        let Work::Write {
            columns,
            types,
            declared,
            rows,
            ..
        } = work
        else {
            return None;
        };
        let [row] = rows.as_slice() else {
            return None;
        };
        for (((column, cast), full), cell) in columns.iter().zip(types).zip(declared).zip(row) {
            let value = text(cell, &settings.time_zone);
            // Type names come from the catalog (format_type), never from a record.
            let bounded = full.starts_with("character") || full.starts_with("bit");
            let probe = if bounded {
                format!(
                    "SELECT CAST($1::text AS {cast}) = CAST(CAST($1::text AS {cast}) AS {full})"
                )
            } else {
                format!(
                    "SELECT CAST($1::text AS {full}) IS NOT DISTINCT FROM CAST($1::text AS {full})"
                )
            };
            match self.client.query_one(&probe, &[&value]).await {
                Ok(row) if row.get::<_, Option<bool>>(0) != Some(false) => {}
                _ => return Some(column),
            }
        }
        None
    }
}

/// The statements of one work item with their parameters (one `text[]` per column),
/// chunked by `batch.size`.
fn statements_of(
    sql: &Sql,
    settings: &Settings,
    work: &Work<'_>,
) -> Vec<(String, Vec<Vec<Option<String>>>)> {
    let tz = &settings.time_zone;
    let arrays = |rows: &[Vec<&Cell>], width: usize| -> Vec<Vec<Option<String>>> {
        (0..width)
            .map(|c| rows.iter().map(|r| text(r[c], tz)).collect())
            .collect()
    };
    match work {
        Work::Truncate { table, .. } => vec![(sql.truncate(table), Vec::new())],
        Work::Delete {
            table,
            keys,
            types,
            rows,
            ..
        } => rows
            .chunks(settings.batch_size)
            .map(|chunk| (sql.pg_delete(table, keys, types), arrays(chunk, keys.len())))
            .collect(),
        Work::Write {
            table,
            mode,
            keys,
            columns,
            types,
            rows,
            ..
        } => {
            let statement = match mode {
                InsertMode::Insert => sql.pg_insert(table, columns, types, None),
                InsertMode::Upsert => sql.pg_insert(table, columns, types, Some(keys)),
                InsertMode::Update => sql.pg_update(table, keys, &columns[keys.len()..], types),
            };
            rows.chunks(settings.batch_size)
                .map(|chunk| (statement.clone(), arrays(chunk, columns.len())))
                .collect()
        }
    }
}

/// A cell as PostgreSQL's text input reads it.
pub fn text(cell: &Cell, tz: &jiff::tz::TimeZone) -> Option<String> {
    Some(match cell {
        Cell::Null => return None,
        Cell::Bool(b) => (if *b { "true" } else { "false" }).to_string(),
        Cell::Int(v) => v.to_string(),
        Cell::Float32(v) => float_text(f64::from(*v), v.to_string()),
        Cell::Float64(v) => float_text(*v, v.to_string()),
        Cell::Text(s)
        | Cell::Decimal(s)
        | Cell::ZonedTime(s)
        | Cell::Json(s)
        | Cell::Uuid(s)
        | Cell::IsoInterval(s)
        | Cell::Bits(s) => s.clone(),
        Cell::Bytes(b) => {
            let mut out = String::with_capacity(2 + b.len() * 2);
            out.push_str("\\x");
            for byte in b.iter() {
                out.push_str(&format!("{byte:02x}"));
            }
            out
        }
        Cell::Date(days) => date(*days),
        Cell::Time(micros) => cell::time_text(*micros),
        Cell::LocalDateTime(micros) => local(*micros),
        Cell::Instant(micros) => {
            let (wall, offset) = cell::to_local(*micros, tz);
            let (days, time) = cell::split_micros(wall);
            datetime(days, Some(time), Some(offset))
        }
        Cell::Micros(us) => format!("{us} microseconds"),
        Cell::Array(items) => {
            let mut out = String::from("{");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match text(item, tz) {
                    None => out.push_str("NULL"),
                    Some(t) => {
                        out.push('"');
                        out.push_str(&t.replace('\\', "\\\\").replace('"', "\\\""));
                        out.push('"');
                    }
                }
            }
            out.push('}');
            out
        }
    })
}

fn float_text(v: f64, shortest: String) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        (if v > 0.0 { "Infinity" } else { "-Infinity" }).into()
    } else {
        shortest
    }
}

/// A date, a time and an offset as PostgreSQL reads them; years before 1 end in `BC`.
fn datetime(days: i64, time: Option<i64>, offset: Option<i32>) -> String {
    let (y, m, d) = weir_connect_api::calendar::civil_from_days(days);
    let mut out = format!("{:04}-{m:02}-{d:02}", if y <= 0 { 1 - y } else { y });
    if let Some(time) = time {
        out.push(' ');
        out.push_str(&cell::time_text(time));
    }
    if let Some(offset) = offset {
        out.push_str(&cell::offset_text(offset));
    }
    if y <= 0 {
        out.push_str(" BC");
    }
    out
}

fn date(days: i64) -> String {
    datetime(days, None, None)
}

fn local(micros: i64) -> String {
    let (days, time) = cell::split_micros(micros);
    datetime(days, Some(time), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_postgres_reads() {
        let utc = jiff::tz::TimeZone::UTC;
        assert_eq!(
            text(&Cell::Bytes(bytes::Bytes::from_static(&[0, 255])), &utc).as_deref(),
            Some("\\x00ff")
        );
        assert_eq!(text(&Cell::Float64(f64::NAN), &utc).as_deref(), Some("NaN"));
        assert_eq!(
            text(&Cell::Float32(f32::NEG_INFINITY), &utc).as_deref(),
            Some("-Infinity")
        );
        assert_eq!(text(&Cell::Float32(1.1), &utc).as_deref(), Some("1.1"));
        assert_eq!(
            text(&Cell::Instant(0), &utc).as_deref(),
            Some("1970-01-01 00:00:00+00:00")
        );
        let paris = jiff::tz::TimeZone::get("Europe/Paris").expect("zone");
        assert_eq!(
            text(&Cell::Instant(0), &paris).as_deref(),
            Some("1970-01-01 01:00:00+01:00")
        );
        assert_eq!(
            text(&Cell::Date(-719_529), &utc).as_deref(),
            Some("0002-12-31 BC")
        );
        let array = Cell::Array(vec![
            Cell::Text("a\"b".into()),
            Cell::Null,
            Cell::Text("c\\".into()),
        ]);
        assert_eq!(
            text(&array, &utc).as_deref(),
            Some("{\"a\\\"b\",NULL,\"c\\\\\"}")
        );
        assert_eq!(text(&Cell::Null, &utc), None);
    }
}
