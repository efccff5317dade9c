//! What both dialects share: table descriptions, the error classes the sink acts on, and
//! the statements a plan turns into ([`Work`]), before a dialect writes them as SQL.

use std::collections::BTreeMap;

use crate::batch::{Op, TablePlan};
use crate::cell::Cell;
use crate::config::InsertMode;
use crate::sql::Sql;
use crate::table::TableId;

/// A column as the database describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    /// The type as the catalog prints it (`numeric(12,3)`, `varchar(255)`).
    pub type_name: String,
    /// The type without its modifiers (`numeric`, `character varying`): PostgreSQL casts
    /// bound text to it, and the column's own assignment rules then apply (an explicit cast
    /// to `varchar(5)` would silently cut a longer value).
    pub cast_type: String,
}

/// A table as the database describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableInfo {
    pub columns: Vec<ColumnInfo>,
    /// The column sets of the primary key and unique indexes.
    pub unique: Vec<Vec<String>>,
}

impl TableInfo {
    /// The column stored as `name` (exactly, else ignoring case as MySQL does).
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name).or_else(|| {
            self.columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
        })
    }

    /// Whether a primary key or unique index covers exactly `names` (in any order).
    pub fn has_unique(&self, names: &[String]) -> bool {
        self.unique.iter().any(|set| {
            set.len() == names.len()
                && names
                    .iter()
                    .all(|n| set.iter().any(|s| s == n || s.eq_ignore_ascii_case(n)))
        })
    }
}

/// How a database call failed, which decides what the sink does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// The connection broke, or the database asks to try again (deadlock, shutdown):
    /// reconnect and retry with backoff.
    #[error("{0}")]
    Transient(String),
    /// A statement was refused for what it carried (a value that does not fit, a missing
    /// column): find the record at fault.
    #[error("{0}")]
    Data(String),
    /// Retrying cannot help (wrong password, unknown database).
    #[error("{0}")]
    Fatal(String),
}

/// One statement's worth of a plan, before a dialect writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Work<'a> {
    Truncate {
        table: &'a TableId,
        index: usize,
    },
    Delete {
        table: &'a TableId,
        keys: Vec<&'a str>,
        types: Vec<&'a str>,
        rows: Vec<Vec<&'a Cell>>,
        indices: Vec<usize>,
    },
    /// Insert, upsert or update of rows sharing one column list (keys first).
    Write {
        table: &'a TableId,
        mode: InsertMode,
        keys: Vec<&'a str>,
        columns: Vec<&'a str>,
        /// Cast types.
        types: Vec<&'a str>,
        /// Declared types.
        declared: Vec<&'a str>,
        rows: Vec<Vec<&'a Cell>>,
        indices: Vec<usize>,
    },
}

impl Work<'_> {
    pub fn table(&self) -> &TableId {
        match self {
            Work::Truncate { table, .. }
            | Work::Delete { table, .. }
            | Work::Write { table, .. } => table,
        }
    }

    pub fn indices(&self) -> Vec<usize> {
        match self {
            Work::Truncate { index, .. } => vec![*index],
            Work::Delete { indices, .. } | Work::Write { indices, .. } => indices.clone(),
        }
    }
}

/// The statements of `plans` in order: per table truncate, deletes, then writes grouped by
/// column list. `per_entry`: one statement per record (to find the one at fault).
pub fn works<'a>(
    sql: &Sql,
    mode: InsertMode,
    plans: &'a [(TablePlan, TableInfo)],
    per_entry: bool,
) -> Vec<Work<'a>> {
    let mut out = Vec::new();
    for (plan, info) in plans {
        let type_of = |name: &str| -> &'a str {
            info.column(&sql.stored_name(name))
                .map_or("text", |c| c.cast_type.as_str())
        };
        let declared_of = |name: &str| -> &'a str {
            info.column(&sql.stored_name(name))
                .map_or("text", |c| c.type_name.as_str())
        };
        let table = &plan.table;
        if let Some(index) = plan.truncate {
            out.push(Work::Truncate { table, index });
        }
        let mut deletes: Option<Work<'a>> = None;
        for entry in &plan.entries {
            let deleting = matches!(entry.op, Op::Delete | Op::Upsert { delete_first: true });
            if !deleting || entry.row.key.is_empty() {
                continue;
            }
            let row: Vec<&Cell> = entry.row.key_cells.iter().collect();
            match &mut deletes {
                Some(Work::Delete { rows, indices, .. }) if !per_entry => {
                    rows.push(row);
                    indices.push(entry.index);
                }
                _ => {
                    if let Some(done) = deletes.take() {
                        out.push(done);
                    }
                    let keys: Vec<&str> = entry.row.key.iter().map(|c| c.name.as_str()).collect();
                    deletes = Some(Work::Delete {
                        table,
                        types: keys.iter().map(|k| type_of(k)).collect(),
                        keys,
                        rows: vec![row],
                        indices: vec![entry.index],
                    });
                }
            }
        }
        out.extend(deletes);
        // Writes grouped by their column list, groups in order of first appearance.
        let mut groups: BTreeMap<usize, Work<'a>> = BTreeMap::new();
        let mut signatures: Vec<Vec<&str>> = Vec::new();
        for entry in &plan.entries {
            if !matches!(entry.op, Op::Upsert { .. }) {
                continue;
            }
            let row = &entry.row;
            let mut columns: Vec<&str> = row.key.iter().map(|c| c.name.as_str()).collect();
            let mut cells: Vec<&Cell> = row.key_cells.iter().collect();
            for (column, cell) in row.columns.iter().zip(&row.cells) {
                if let Some(cell) = cell {
                    columns.push(column.name.as_str());
                    cells.push(cell);
                }
            }
            if mode == InsertMode::Update && columns.len() == row.key.len() {
                continue;
            }
            let at = match signatures.iter().position(|s| *s == columns) {
                Some(at) if !per_entry => at,
                _ => {
                    signatures.push(columns.clone());
                    signatures.len() - 1
                }
            };
            match groups.get_mut(&at) {
                Some(Work::Write { rows, indices, .. }) => {
                    rows.push(cells);
                    indices.push(entry.index);
                }
                _ => {
                    groups.insert(
                        at,
                        Work::Write {
                            table,
                            mode,
                            keys: row.key.iter().map(|c| c.name.as_str()).collect(),
                            types: columns.iter().map(|c| type_of(c)).collect(),
                            declared: columns.iter().map(|c| declared_of(c)).collect(),
                            columns,
                            rows: vec![cells],
                            indices: vec![entry.index],
                        },
                    );
                }
            }
        }
        out.extend(groups.into_values());
    }
    out
}

/// Splits rows into chunks of at most `size`.
pub fn chunks<T>(rows: &[T], size: usize) -> impl Iterator<Item = &[T]> {
    rows.chunks(size.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Entry, Op};
    use crate::record::{Column, Row};
    use crate::url::Dialect;
    use weir_connect_api::SchemaBuilder;

    fn row(id: i64, cells: &[Option<&str>]) -> Row {
        let col = |n: &str| Column {
            name: n.into(),
            schema: SchemaBuilder::string().build(),
        };
        Row {
            key: vec![col("id")],
            key_cells: vec![Cell::Int(id)],
            columns: (0..cells.len()).map(|i| col(&format!("c{i}"))).collect(),
            cells: cells
                .iter()
                .map(|c| c.map(|s| Cell::Text(s.into())))
                .collect(),
        }
    }

    #[test]
    fn plans_become_ordered_statements() {
        let table = TableId::parse("t").expect("table");
        let info = TableInfo {
            columns: ["id", "c0", "c1"]
                .iter()
                .map(|n| ColumnInfo {
                    name: (*n).into(),
                    type_name: if *n == "id" {
                        "bigint".into()
                    } else {
                        "text".into()
                    },
                    cast_type: if *n == "id" {
                        "bigint".into()
                    } else {
                        "text".into()
                    },
                })
                .collect(),
            unique: vec![vec!["id".into()]],
        };
        let entries = vec![
            Entry {
                index: 0,
                row: row(1, &[Some("a"), Some("b")]),
                op: Op::Upsert {
                    delete_first: false,
                },
            },
            Entry {
                index: 1,
                row: row(2, &[Some("a"), None]),
                op: Op::Upsert { delete_first: true },
            },
            Entry {
                index: 2,
                row: row(3, &[]),
                op: Op::Delete,
            },
            Entry {
                index: 3,
                row: row(4, &[Some("c"), Some("d")]),
                op: Op::Upsert {
                    delete_first: false,
                },
            },
        ];
        let plans = vec![(
            TablePlan {
                table,
                truncate: Some(9),
                entries,
            },
            info,
        )];
        let sql = Sql {
            dialect: Dialect::Postgres,
            quote: true,
        };
        let w = works(&sql, InsertMode::Upsert, &plans, false);
        assert_eq!(w.len(), 4, "{w:#?}");
        assert!(matches!(&w[0], Work::Truncate { index: 9, .. }));
        assert!(
            matches!(&w[1], Work::Delete { indices, types, .. } if *indices == [1, 2] && *types == ["bigint"])
        );
        assert!(
            matches!(&w[2], Work::Write { indices, columns, .. } if *indices == [0, 3] && *columns == ["id", "c0", "c1"])
        );
        assert!(
            matches!(&w[3], Work::Write { indices, columns, .. } if *indices == [1] && *columns == ["id", "c0"])
        );
        let one_by_one = works(&sql, InsertMode::Upsert, &plans, true);
        assert_eq!(one_by_one.len(), 6);
        assert_eq!(
            one_by_one.iter().map(|w| w.indices()).collect::<Vec<_>>(),
            [vec![9], vec![1], vec![2], vec![0], vec![1], vec![3]]
        );
    }
}
