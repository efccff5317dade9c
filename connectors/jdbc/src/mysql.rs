//! MySQL and MariaDB through mysql_async: one connection per task, multi-row `VALUES`
//! statements (at most 65,535 parameters and about 4 MiB each) with typed bound values,
//! strict SQL mode so a value that does not fit is an error rather than a silent
//! truncation.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Params, TxOpts, Value as My};

use crate::cell::{self, Cell};
use crate::config::{InsertMode, Settings};
use crate::db::{ColumnInfo, DbError, TableInfo, Work};
use crate::sql::{MYSQL_MAX_PARAMS, Sql};
use crate::table::TableId;

/// About how many bytes of values one statement carries.
const MAX_STATEMENT_BYTES: usize = 4 << 20;

pub struct MySqlTarget {
    conn: Conn,
}

/// The message and class of a mysql_async error.
pub fn classify(e: &mysql_async::Error, what: &str) -> DbError {
    let message = match e {
        mysql_async::Error::Server(s) => {
            format!(
                "{what}: {} (error {}, SQLSTATE {})",
                s.message, s.code, s.state
            )
        }
        other => format!("{what}: {other}"),
    };
    match e {
        mysql_async::Error::Server(s) => match s.code {
            1044 | 1045 | 1049 | 1142 | 1227 | 1698 => DbError::Fatal(message),
            1040 | 1053 | 1205 | 1213 | 1290 | 1927 | 2006 | 2013 => DbError::Transient(message),
            _ if s.state.starts_with("08") || s.state.starts_with("40") => {
                DbError::Transient(message)
            }
            _ => DbError::Data(message),
        },
        _ => DbError::Transient(message),
    }
}

impl MySqlTarget {
    pub async fn connect(settings: &Settings) -> Result<MySqlTarget, DbError> {
        let url = &settings.url;
        let opts = OptsBuilder::default()
            .ip_or_hostname(url.host.clone())
            .tcp_port(url.port)
            .db_name(Some(url.database.clone()))
            .user(settings.user.clone())
            .pass(settings.password.as_ref().map(|p| p.expose().to_string()))
            .prefer_socket(false)
            .tcp_keepalive(Some(std::time::Duration::from_secs(30)))
            .init(vec![
                "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES')",
            ]);
        let connected = tokio::time::timeout(url.connect_timeout(), Conn::new(opts)).await;
        match connected {
            Ok(Ok(conn)) => Ok(MySqlTarget { conn }),
            Ok(Err(e)) => Err(classify(
                &e,
                &format!("cannot connect to {}", url.display()),
            )),
            Err(_) => Err(DbError::Transient(format!(
                "cannot connect to {}: no answer within {:?}",
                url.display(),
                url.connect_timeout()
            ))),
        }
    }

    pub async fn describe(
        &mut self,
        sql: &Sql,
        table: &TableId,
    ) -> Result<Option<TableInfo>, DbError> {
        if table.catalog().is_some() {
            return Err(DbError::Data(format!(
                "table {table} has three parts; MySQL names tables as database.table (set the table name format)"
            )));
        }
        let what = format!("cannot describe table {table}");
        let schema = table.namespace().map(|n| sql.stored_name(n));
        let name = sql.stored_name(table.table());
        let columns: Vec<(String, String)> = self
            .conn
            .exec(
                "SELECT CAST(column_name AS CHAR), CAST(column_type AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? ORDER BY ordinal_position",
                (schema.clone(), name.clone()),
            )
            .await
            .map_err(|e| classify(&e, &what))?;
        if columns.is_empty() {
            return Ok(None);
        }
        let indexed: Vec<(String, String)> = self
            .conn
            .exec(
                "SELECT CAST(index_name AS CHAR), CAST(column_name AS CHAR) FROM information_schema.statistics \
                 WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? AND non_unique = 0 \
                 ORDER BY index_name, seq_in_index",
                (schema, name),
            )
            .await
            .map_err(|e| classify(&e, &what))?;
        let mut unique: Vec<(String, Vec<String>)> = Vec::new();
        for (index, column) in indexed {
            match unique.last_mut() {
                Some((name, columns)) if *name == index => columns.push(column),
                _ => unique.push((index, vec![column])),
            }
        }
        Ok(Some(TableInfo {
            columns: columns
                .into_iter()
                .map(|(name, type_name)| ColumnInfo {
                    name,
                    cast_type: type_name.clone(),
                    type_name,
                })
                .collect(),
            unique: unique.into_iter().map(|(_, c)| c).collect(),
        }))
    }

    pub async fn ddl(&mut self, statement: &str) -> Result<(), DbError> {
        match self.conn.query_drop(statement).await {
            // 1050: the table exists, 1060: the column exists (another task was first).
            Err(mysql_async::Error::Server(s)) if s.code == 1050 || s.code == 1060 => Ok(()),
            other => other.map_err(|e| classify(&e, &format!("{statement} failed"))),
        }
    }

    /// Runs `works` in one transaction; see [`crate::pg::PgTarget::apply`].
    pub async fn apply(
        &mut self,
        sql: &Sql,
        settings: &Settings,
        works: &[Work<'_>],
        isolate: bool,
    ) -> Result<Vec<(Vec<usize>, String)>, DbError> {
        let mut statements = Vec::new();
        for work in works {
            for (text, params) in statements_of(sql, settings, work).map_err(DbError::Data)? {
                statements.push((text, params, work));
            }
        }
        let mut failed = Vec::new();
        let mut tx = self
            .conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(|e| classify(&e, "cannot begin a transaction"))?;
        for (text, params, work) in statements {
            let what = format!("writing to table {}", work.table());
            let params = if params.is_empty() {
                Params::Empty
            } else {
                Params::Positional(params)
            };
            if !isolate {
                tx.exec_drop(text, params)
                    .await
                    .map_err(|e| classify(&e, &what))?;
                continue;
            }
            tx.query_drop("SAVEPOINT weir_record")
                .await
                .map_err(|e| classify(&e, "cannot set a savepoint"))?;
            match tx.exec_drop(text, params).await {
                Ok(()) => tx
                    .query_drop("RELEASE SAVEPOINT weir_record")
                    .await
                    .map_err(|e| classify(&e, "cannot release a savepoint"))?,
                Err(e) => match classify(&e, &what) {
                    DbError::Data(reason) => {
                        tx.query_drop("ROLLBACK TO SAVEPOINT weir_record")
                            .await
                            .map_err(|e| classify(&e, "cannot roll back to a savepoint"))?;
                        failed.push((work.indices(), reason));
                    }
                    other => return Err(other),
                },
            }
        }
        tx.commit()
            .await
            .map_err(|e| classify(&e, "cannot commit"))?;
        Ok(failed)
    }
}

/// The statements of one work item, chunked by `batch.size`, parameter count and size.
fn statements_of(
    sql: &Sql,
    settings: &Settings,
    work: &Work<'_>,
) -> Result<Vec<(String, Vec<My>)>, String> {
    let tz = &settings.time_zone;
    let mut out = Vec::new();
    let mut chunked = |rows: &[Vec<&Cell>],
                       width: usize,
                       build: &dyn Fn(usize) -> String|
     -> Result<(), String> {
        let mut params = Vec::new();
        let (mut count, mut bytes) = (0usize, 0usize);
        for row in rows {
            if count > 0
                && (count >= settings.batch_size
                    || (count + 1) * width > MYSQL_MAX_PARAMS
                    || bytes > MAX_STATEMENT_BYTES)
            {
                out.push((build(count), std::mem::take(&mut params)));
                (count, bytes) = (0, 0);
            }
            for cell in row {
                let v = value(cell, tz)?;
                bytes += match &v {
                    My::Bytes(b) => b.len(),
                    _ => 8,
                };
                params.push(v);
            }
            count += 1;
        }
        if count > 0 {
            out.push((build(count), params));
        }
        Ok(())
    };
    match work {
        Work::Truncate { table, .. } => out.push((sql.truncate(table), Vec::new())),
        Work::Delete {
            table, keys, rows, ..
        } => {
            chunked(rows, keys.len(), &|n| sql.mysql_delete(table, keys, n))?;
        }
        Work::Write {
            table,
            mode: InsertMode::Update,
            keys,
            columns,
            rows,
            ..
        } => {
            let statement = sql.mysql_update(table, keys, &columns[keys.len()..]);
            for row in rows {
                // SET values first, then the key.
                let ordered = row[keys.len()..].iter().chain(&row[..keys.len()]);
                let params = ordered.map(|c| value(c, tz)).collect::<Result<_, _>>()?;
                out.push((statement.clone(), params));
            }
        }
        Work::Write {
            table,
            mode,
            keys,
            columns,
            rows,
            ..
        } => {
            let upsert = *mode == InsertMode::Upsert;
            chunked(rows, columns.len(), &|n| {
                sql.mysql_insert(table, columns, keys, n, upsert)
            })?;
        }
    }
    Ok(out)
}

/// A cell as a bound MySQL value.
pub fn value(cell: &Cell, tz: &jiff::tz::TimeZone) -> Result<My, String> {
    let text = |s: &str| My::Bytes(s.as_bytes().to_vec());
    Ok(match cell {
        Cell::Null => My::NULL,
        Cell::Bool(b) => My::Int(i64::from(*b)),
        Cell::Int(v) | Cell::Micros(v) => My::Int(*v),
        Cell::Float32(v) => My::Float(*v),
        Cell::Float64(v) => My::Double(*v),
        Cell::Text(s) | Cell::Decimal(s) | Cell::Json(s) | Cell::Uuid(s) | Cell::IsoInterval(s) => {
            text(s)
        }
        Cell::ZonedTime(s) => text(s.trim_end_matches('Z')),
        Cell::Bytes(b) => My::Bytes(b.to_vec()),
        Cell::Bits(bits) if bits.len() <= 64 => {
            My::UInt(u64::from_str_radix(if bits.is_empty() { "0" } else { bits }, 2).unwrap_or(0))
        }
        Cell::Bits(bits) => text(bits),
        Cell::Date(days) => {
            let (y, m, d) = ymd(*days)?;
            My::Date(y, m, d, 0, 0, 0, 0)
        }
        Cell::Time(micros) => {
            let micros = (*micros).clamp(0, 86_400_000_000);
            let secs = micros / 1_000_000;
            My::Time(
                false,
                (secs / 86_400) as u32,
                (secs / 3600 % 24) as u8,
                (secs / 60 % 60) as u8,
                (secs % 60) as u8,
                (micros % 1_000_000) as u32,
            )
        }
        Cell::LocalDateTime(micros) => datetime(*micros)?,
        Cell::Instant(micros) => datetime(cell::to_local(*micros, tz).0)?,
        Cell::Array(_) => text(&json(cell, tz).to_string()),
    })
}

fn ymd(days: i64) -> Result<(u16, u8, u8), String> {
    let (y, m, d) = weir_connect_api::calendar::civil_from_days(days);
    match u16::try_from(y) {
        Ok(y) if y <= 9999 => Ok((y, m as u8, d as u8)),
        _ => Err(format!(
            "the date {} is outside MySQL's range (years 0 to 9999)",
            cell::date_text(days)
        )),
    }
}

fn datetime(micros: i64) -> Result<My, String> {
    let (days, time) = cell::split_micros(micros);
    let (y, m, d) = ymd(days)?;
    let secs = time / 1_000_000;
    Ok(My::Date(
        y,
        m,
        d,
        (secs / 3600) as u8,
        (secs / 60 % 60) as u8,
        (secs % 60) as u8,
        (time % 1_000_000) as u32,
    ))
}

/// An array cell as JSON (MySQL has no array columns; arrays are stored as JSON).
fn json(cell: &Cell, tz: &jiff::tz::TimeZone) -> serde_json::Value {
    use serde_json::Value as J;
    match cell {
        Cell::Null => J::Null,
        Cell::Bool(b) => J::from(*b),
        Cell::Int(v) | Cell::Micros(v) => J::from(*v),
        Cell::Float32(v) => J::from(f64::from(*v)),
        Cell::Float64(v) => J::from(*v),
        Cell::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| J::from(s.as_str())),
        Cell::Array(items) => J::Array(items.iter().map(|c| json(c, tz)).collect()),
        other => J::from(crate::pg::text(other, tz).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_mysql_binds() {
        let utc = jiff::tz::TimeZone::UTC;
        assert_eq!(value(&Cell::Bool(true), &utc), Ok(My::Int(1)));
        assert_eq!(
            value(&Cell::Date(19_000), &utc),
            Ok(My::Date(2022, 1, 8, 0, 0, 0, 0))
        );
        assert_eq!(
            value(&Cell::Time(86_400_000_000), &utc),
            Ok(My::Time(false, 1, 0, 0, 0, 0))
        );
        assert_eq!(
            value(&Cell::LocalDateTime(1_500_000), &utc),
            Ok(My::Date(1970, 1, 1, 0, 0, 1, 500_000))
        );
        assert!(
            value(&Cell::Date(-800_000), &utc).is_err_and(|e| e.contains("outside MySQL's range"))
        );
        assert_eq!(value(&Cell::Bits("0101".into()), &utc), Ok(My::UInt(5)));
        let array = Cell::Array(vec![Cell::Int(1), Cell::Null, Cell::Text("x".into())]);
        assert_eq!(
            value(&array, &utc),
            Ok(My::Bytes(br#"[1,null,"x"]"#.to_vec()))
        );
    }
}
