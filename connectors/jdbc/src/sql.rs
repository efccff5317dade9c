//! The SQL each dialect runs, built from names alone: identifiers are always quoted unless
//! the user asked otherwise and the name is plain, and every value is a bound parameter, so
//! nothing a record carries is ever spliced into a statement.
//!
//! PostgreSQL writes batches as one statement over `unnest` of one text array per column,
//! each element cast to the column's type; MySQL and MariaDB as multi-row `VALUES` lists.

use crate::cell::{Cell, SqlType};
use crate::table::TableId;
use crate::url::Dialect;

/// A column a table needs: its name, type and nullability, and a default (for evolution).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    pub sql_type: SqlType,
    pub optional: bool,
    pub default: Option<Cell>,
}

/// Statement builder for one dialect and quoting rule.
#[derive(Debug, Clone, Copy)]
pub struct Sql {
    pub dialect: Dialect,
    /// `quote.sql.identifiers=always` / `quote.identifiers=true`.
    pub quote: bool,
}

/// Longest MySQL statement parameter list (the protocol counts them in 16 bits).
pub const MYSQL_MAX_PARAMS: usize = 65_535;

fn is_plain(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

impl Sql {
    /// An identifier as the statement writes it. Unquoted only when quoting is off and the
    /// name is plain; anything else is quoted, whatever the setting, so it stays one name.
    pub fn ident(&self, name: &str) -> String {
        if !self.quote && is_plain(name) {
            return name.to_string();
        }
        self.quoted(name)
    }

    /// An identifier always quoted.
    pub fn quoted(&self, name: &str) -> String {
        match self.dialect {
            Dialect::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
            Dialect::MySql => format!("`{}`", name.replace('`', "``")),
        }
    }

    /// The name the database stores for `name`: PostgreSQL folds unquoted names to lower
    /// case.
    pub fn stored_name(&self, name: &str) -> String {
        if self.dialect == Dialect::Postgres && !self.quote && is_plain(name) {
            name.to_ascii_lowercase()
        } else {
            name.to_string()
        }
    }

    pub fn table(&self, id: &TableId) -> String {
        id.parts()
            .iter()
            .map(|p| self.ident(p))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The table as stored names, each quoted: what catalog lookups take.
    pub fn stored_table(&self, id: &TableId) -> String {
        id.parts()
            .iter()
            .map(|p| self.quoted(&self.stored_name(p)))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The column type for `t`; `key` columns on MySQL need bounded lengths.
    pub fn column_type(&self, t: &SqlType, key: bool) -> String {
        match self.dialect {
            Dialect::Postgres => pg_type(t),
            Dialect::MySql => mysql_type(t, key),
        }
    }

    pub fn create_table(&self, id: &TableId, columns: &[ColumnDef], key: &[String]) -> String {
        let mut parts: Vec<String> = columns
            .iter()
            .map(|c| {
                let is_key = key.contains(&c.name);
                self.column_definition(c, is_key)
            })
            .collect();
        if !key.is_empty() {
            let names: Vec<String> = key.iter().map(|k| self.ident(k)).collect();
            parts.push(format!("PRIMARY KEY ({})", names.join(", ")));
        }
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n  {}\n)",
            self.table(id),
            parts.join(",\n  ")
        )
    }

    pub fn add_column(&self, id: &TableId, column: &ColumnDef) -> String {
        // MySQL 8 has no IF NOT EXISTS here; a column another task added first is an
        // error the caller ignores (1060, duplicate column name).
        let guard = match self.dialect {
            Dialect::Postgres => "IF NOT EXISTS ",
            Dialect::MySql => "",
        };
        format!(
            "ALTER TABLE {} ADD COLUMN {guard}{}",
            self.table(id),
            self.column_definition(column, false)
        )
    }

    fn column_definition(&self, c: &ColumnDef, key: bool) -> String {
        let mut out = format!(
            "{} {}",
            self.ident(&c.name),
            self.column_type(&c.sql_type, key)
        );
        if let Some(default) = c.default.as_ref().and_then(|d| self.literal(d)) {
            out.push_str(" DEFAULT ");
            out.push_str(&default);
        }
        out.push_str(if c.optional && !key {
            " NULL"
        } else {
            " NOT NULL"
        });
        out
    }

    /// A default value as an SQL literal, for the few kinds a literal is safe and portable
    /// for (numbers, booleans, text); `None` leaves the column without a default.
    fn literal(&self, cell: &Cell) -> Option<String> {
        Some(match cell {
            Cell::Bool(b) => match self.dialect {
                Dialect::Postgres => (if *b { "true" } else { "false" }).to_string(),
                Dialect::MySql => (if *b { "1" } else { "0" }).to_string(),
            },
            Cell::Int(v) => v.to_string(),
            Cell::Float64(v) if v.is_finite() => v.to_string(),
            Cell::Float32(v) if v.is_finite() => v.to_string(),
            Cell::Decimal(d) => d.clone(),
            // Backslashes doubled and an escape-string literal on PostgreSQL, so the text
            // means the same whatever `standard_conforming_strings` (or MySQL's
            // NO_BACKSLASH_ESCAPES, where a doubled backslash is merely two) says.
            Cell::Text(s) => {
                let quoted = s.replace('\\', "\\\\").replace('\'', "''");
                match self.dialect {
                    Dialect::Postgres => format!("E'{quoted}'"),
                    Dialect::MySql => format!("'{quoted}'"),
                }
            }
            _ => return None,
        })
    }

    pub fn truncate(&self, id: &TableId) -> String {
        match self.dialect {
            Dialect::Postgres => format!("TRUNCATE TABLE {}", self.table(id)),
            // TRUNCATE commits implicitly on MySQL; DELETE stays inside the transaction.
            Dialect::MySql => format!("DELETE FROM {}", self.table(id)),
        }
    }

    /// PostgreSQL: `INSERT ... SELECT FROM unnest(...)`, one text array parameter per
    /// column (`casts` are the columns' types). `conflict`: upsert on these key columns.
    pub fn pg_insert(
        &self,
        id: &TableId,
        columns: &[&str],
        casts: &[&str],
        conflict: Option<&[&str]>,
    ) -> String {
        let names: Vec<String> = columns.iter().map(|c| self.ident(c)).collect();
        let mut sql = format!(
            "INSERT INTO {} ({}) SELECT {} FROM {}",
            self.table(id),
            names.join(", "),
            pg_casts(casts),
            pg_unnest(casts.len())
        );
        if let Some(keys) = conflict {
            let keys: Vec<String> = keys.iter().map(|k| self.ident(k)).collect();
            let updates: Vec<String> = names
                .iter()
                .filter(|n| !keys.contains(n))
                .map(|n| format!("{n} = EXCLUDED.{n}"))
                .collect();
            sql.push_str(&format!(" ON CONFLICT ({}) ", keys.join(", ")));
            if updates.is_empty() {
                sql.push_str("DO NOTHING");
            } else {
                sql.push_str("DO UPDATE SET ");
                sql.push_str(&updates.join(", "));
            }
        }
        sql
    }

    /// PostgreSQL: `UPDATE ... FROM unnest(...)`; the key columns come first in the arrays.
    pub fn pg_update(
        &self,
        id: &TableId,
        keys: &[&str],
        columns: &[&str],
        casts: &[&str],
    ) -> String {
        let sets: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let j = keys.len() + i;
                format!("{} = CAST(_weir_v.c{j} AS {})", self.ident(c), casts[j])
            })
            .collect();
        format!(
            "UPDATE {} AS _weir_t SET {} FROM {} WHERE {}",
            self.table(id),
            sets.join(", "),
            pg_unnest(casts.len()),
            self.pg_key_match(keys, casts)
        )
    }

    /// PostgreSQL: `DELETE ... USING unnest(...)` of the key columns.
    pub fn pg_delete(&self, id: &TableId, keys: &[&str], casts: &[&str]) -> String {
        format!(
            "DELETE FROM {} AS _weir_t USING {} WHERE {}",
            self.table(id),
            pg_unnest(casts.len()),
            self.pg_key_match(keys, casts)
        )
    }

    fn pg_key_match(&self, keys: &[&str], casts: &[&str]) -> String {
        keys.iter()
            .enumerate()
            .map(|(i, k)| {
                format!(
                    "_weir_t.{} = CAST(_weir_v.c{i} AS {})",
                    self.ident(k),
                    casts[i]
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// MySQL: a multi-row insert of `rows` rows; `upsert` adds `ON DUPLICATE KEY UPDATE`
    /// of the non-key columns (or of the keys themselves when there are no others).
    pub fn mysql_insert(
        &self,
        id: &TableId,
        columns: &[&str],
        keys: &[&str],
        rows: usize,
        upsert: bool,
    ) -> String {
        let names: Vec<String> = columns.iter().map(|c| self.ident(c)).collect();
        let row = format!("({})", vec!["?"; columns.len()].join(", "));
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.table(id),
            names.join(", "),
            vec![row.as_str(); rows].join(", ")
        );
        if upsert {
            let keys: Vec<String> = keys.iter().map(|k| self.ident(k)).collect();
            let mut updates: Vec<&String> = names.iter().filter(|n| !keys.contains(n)).collect();
            if updates.is_empty() {
                updates = names.iter().collect();
            }
            let sets: Vec<String> = updates
                .iter()
                .map(|n| format!("{n} = VALUES({n})"))
                .collect();
            sql.push_str(" ON DUPLICATE KEY UPDATE ");
            sql.push_str(&sets.join(", "));
        }
        sql
    }

    /// MySQL: `UPDATE ... SET columns WHERE keys` for one row (columns first, then keys).
    pub fn mysql_update(&self, id: &TableId, keys: &[&str], columns: &[&str]) -> String {
        let sets: Vec<String> = columns
            .iter()
            .map(|c| format!("{} = ?", self.ident(c)))
            .collect();
        let matches: Vec<String> = keys
            .iter()
            .map(|k| format!("{} = ?", self.ident(k)))
            .collect();
        format!(
            "UPDATE {} SET {} WHERE {}",
            self.table(id),
            sets.join(", "),
            matches.join(" AND ")
        )
    }

    /// MySQL: deletes `rows` keys at once.
    pub fn mysql_delete(&self, id: &TableId, keys: &[&str], rows: usize) -> String {
        let names: Vec<String> = keys.iter().map(|k| self.ident(k)).collect();
        let tuple = format!("({})", vec!["?"; keys.len()].join(", "));
        format!(
            "DELETE FROM {} WHERE ({}) IN ({})",
            self.table(id),
            names.join(", "),
            vec![tuple.as_str(); rows].join(", ")
        )
    }
}

fn pg_unnest(columns: usize) -> String {
    let params: Vec<String> = (1..=columns).map(|i| format!("${i}::text[]")).collect();
    let aliases: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
    format!(
        "unnest({}) AS _weir_v({})",
        params.join(", "),
        aliases.join(", ")
    )
}

fn pg_casts(casts: &[&str]) -> String {
    casts
        .iter()
        .enumerate()
        .map(|(i, t)| format!("CAST(_weir_v.c{i} AS {t})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn pg_type(t: &SqlType) -> String {
    match t {
        SqlType::Bool => "boolean".into(),
        SqlType::Int8 | SqlType::Int16 => "smallint".into(),
        SqlType::Int32 => "integer".into(),
        SqlType::Int64 => "bigint".into(),
        SqlType::Float32 => "real".into(),
        SqlType::Float64 => "double precision".into(),
        SqlType::Text => "text".into(),
        SqlType::Bytes => "bytea".into(),
        SqlType::Decimal {
            precision: Some(p),
            scale,
        } if (1..=1000).contains(p) => {
            let s = scale.unwrap_or(0).clamp(0, i32::try_from(*p).unwrap_or(0));
            format!("numeric({p}, {s})")
        }
        SqlType::Decimal { .. } => "numeric".into(),
        SqlType::Date => "date".into(),
        SqlType::Time => "time".into(),
        SqlType::Timestamp => "timestamp".into(),
        SqlType::TimestampTz => "timestamptz".into(),
        SqlType::TimeTz => "timetz".into(),
        SqlType::Json { binary: true } => "jsonb".into(),
        SqlType::Json { binary: false } => "json".into(),
        SqlType::Uuid => "uuid".into(),
        SqlType::Interval => "interval".into(),
        SqlType::Xml => "xml".into(),
        SqlType::Bits { length: Some(n) } if *n > 0 => format!("bit varying({n})"),
        SqlType::Bits { .. } => "bit varying".into(),
        SqlType::Array(element) => format!("{}[]", pg_type(element)),
    }
}

fn mysql_type(t: &SqlType, key: bool) -> String {
    match t {
        SqlType::Bool => "boolean".into(),
        SqlType::Int8 => "tinyint".into(),
        SqlType::Int16 => "smallint".into(),
        SqlType::Int32 => "int".into(),
        SqlType::Int64 => "bigint".into(),
        SqlType::Float32 => "float".into(),
        SqlType::Float64 => "double".into(),
        SqlType::Text | SqlType::Xml if key => "varchar(255)".into(),
        SqlType::Text | SqlType::Xml => "longtext".into(),
        SqlType::Bytes if key => "varbinary(255)".into(),
        SqlType::Bytes => "longblob".into(),
        SqlType::Decimal { precision, scale } => {
            let s = scale.unwrap_or(10).clamp(0, 30);
            let p = precision
                .map_or(65, |p| i32::try_from(p).unwrap_or(65))
                .clamp(s.max(1), 65);
            format!("decimal({p}, {s})")
        }
        SqlType::Date => "date".into(),
        SqlType::Time | SqlType::TimeTz => "time(6)".into(),
        SqlType::Timestamp | SqlType::TimestampTz => "datetime(6)".into(),
        SqlType::Json { .. } | SqlType::Array(_) => "json".into(),
        SqlType::Uuid => "char(36)".into(),
        SqlType::Interval if key => "varchar(255)".into(),
        SqlType::Interval => "varchar(255)".into(),
        SqlType::Bits { length: Some(n) } if (1..=64).contains(n) => format!("bit({n})"),
        SqlType::Bits { .. } => "longtext".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str) -> TableId {
        TableId::parse(name).expect("table")
    }

    const PG: Sql = Sql {
        dialect: Dialect::Postgres,
        quote: true,
    };
    const MY: Sql = Sql {
        dialect: Dialect::MySql,
        quote: true,
    };

    #[test]
    fn postgres_statements() {
        let sql = PG.pg_insert(
            &t("public.orders"),
            &["id", "qty"],
            &["bigint", "integer"],
            Some(&["id"]),
        );
        assert_eq!(
            sql,
            "INSERT INTO \"public\".\"orders\" (\"id\", \"qty\") SELECT CAST(_weir_v.c0 AS bigint), CAST(_weir_v.c1 AS integer) FROM unnest($1::text[], $2::text[]) AS _weir_v(c0, c1) ON CONFLICT (\"id\") DO UPDATE SET \"qty\" = EXCLUDED.\"qty\""
        );
        assert!(
            PG.pg_insert(&t("t"), &["id"], &["int"], Some(&["id"]))
                .ends_with("DO NOTHING")
        );
        assert_eq!(
            PG.pg_delete(&t("t"), &["a", "b"], &["int", "text"]),
            "DELETE FROM \"t\" AS _weir_t USING unnest($1::text[], $2::text[]) AS _weir_v(c0, c1) WHERE _weir_t.\"a\" = CAST(_weir_v.c0 AS int) AND _weir_t.\"b\" = CAST(_weir_v.c1 AS text)"
        );
        assert_eq!(
            PG.pg_update(&t("t"), &["id"], &["v"], &["int", "text"]),
            "UPDATE \"t\" AS _weir_t SET \"v\" = CAST(_weir_v.c1 AS text) FROM unnest($1::text[], $2::text[]) AS _weir_v(c0, c1) WHERE _weir_t.\"id\" = CAST(_weir_v.c0 AS int)"
        );
    }

    #[test]
    fn mysql_statements() {
        assert_eq!(
            MY.mysql_insert(&t("t"), &["id", "a"], &["id"], 2, true),
            "INSERT INTO `t` (`id`, `a`) VALUES (?, ?), (?, ?) ON DUPLICATE KEY UPDATE `a` = VALUES(`a`)"
        );
        assert_eq!(
            MY.mysql_delete(&t("db.t"), &["a", "b"], 2),
            "DELETE FROM `db`.`t` WHERE (`a`, `b`) IN ((?, ?), (?, ?))"
        );
        assert_eq!(
            MY.mysql_update(&t("t"), &["id"], &["a"]),
            "UPDATE `t` SET `a` = ? WHERE `id` = ?"
        );
        assert_eq!(MY.truncate(&t("t")), "DELETE FROM `t`");
    }

    #[test]
    fn identifiers_stay_one_name() {
        let never = Sql {
            dialect: Dialect::Postgres,
            quote: false,
        };
        assert_eq!(never.ident("Orders"), "Orders");
        assert_eq!(never.stored_name("Orders"), "orders");
        assert_eq!(
            never.ident("a b\"; drop table x; --"),
            "\"a b\"\"; drop table x; --\""
        );
        assert_eq!(MY.ident("we`ird"), "`we``ird`");
        assert_eq!(PG.stored_name("Orders"), "Orders");
    }

    #[test]
    fn create_and_evolve() {
        let columns = vec![
            ColumnDef {
                name: "id".into(),
                sql_type: SqlType::Text,
                optional: false,
                default: None,
            },
            ColumnDef {
                name: "note".into(),
                sql_type: SqlType::Text,
                optional: true,
                default: Some(Cell::Text("it's".into())),
            },
        ];
        assert_eq!(
            MY.create_table(&t("t"), &columns, &["id".to_string()]),
            "CREATE TABLE IF NOT EXISTS `t` (\n  `id` varchar(255) NOT NULL,\n  `note` longtext DEFAULT 'it''s' NULL,\n  PRIMARY KEY (`id`)\n)"
        );
        assert_eq!(
            PG.add_column(&t("t"), &columns[1]),
            "ALTER TABLE \"t\" ADD COLUMN IF NOT EXISTS \"note\" text DEFAULT E'it''s' NULL"
        );
        assert_eq!(
            PG.column_type(
                &SqlType::Array(Box::new(SqlType::Decimal {
                    precision: Some(12),
                    scale: Some(3)
                })),
                false
            ),
            "numeric(12, 3)[]"
        );
        assert_eq!(
            MY.column_type(
                &SqlType::Decimal {
                    precision: None,
                    scale: Some(2)
                },
                false
            ),
            "decimal(65, 2)"
        );
    }
}
