//! One `put`'s changes, reduced per table and key: the last change to a key wins, in
//! record order; a truncate drops what came before it; a later upsert takes the columns a
//! TOAST placeholder left out from an earlier upsert of the same key. What is left runs as
//! truncate, then deletes, then inserts/upserts, which gives each key its final state.

use std::collections::HashMap;

use crate::cell::Cell;
use crate::record::{Change, Row};
use crate::table::TableId;

/// The final change to one key (or one keyless row).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The record whose change this is (the last one for its key).
    pub index: usize,
    pub row: Row,
    pub op: Op,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Write the row; `delete_first`: the key was deleted earlier in the batch, so columns
    /// the row leaves out must not survive from the old row.
    Upsert {
        delete_first: bool,
    },
    Delete,
}

/// Everything a batch does to one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TablePlan {
    pub table: TableId,
    /// The record of the last truncate, if the batch truncates the table.
    pub truncate: Option<usize>,
    pub entries: Vec<Entry>,
}

impl TablePlan {
    /// Every record index this plan carries.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.truncate
            .into_iter()
            .chain(self.entries.iter().map(|e| e.index))
    }
}

/// Reduces `(record index, change)` pairs into one plan per table, tables in order of
/// first appearance. Rows without key columns are never merged.
pub fn plan(changes: Vec<(usize, Change)>) -> Vec<TablePlan> {
    let mut tables: Vec<TablePlan> = Vec::new();
    let mut keys: Vec<HashMap<String, usize>> = Vec::new();
    for (index, change) in changes {
        let (table, row, op) = match change {
            Change::Skip => continue,
            Change::Truncate(table) => (table, None, None),
            Change::Upsert(table, row) => (
                table,
                Some(row),
                Some(Op::Upsert {
                    delete_first: false,
                }),
            ),
            Change::Delete(table, row) => (table, Some(row), Some(Op::Delete)),
        };
        let t = match tables.iter().position(|p| p.table == table) {
            Some(t) => t,
            None => {
                tables.push(TablePlan {
                    table,
                    truncate: None,
                    entries: Vec::new(),
                });
                keys.push(HashMap::new());
                tables.len() - 1
            }
        };
        let (plan, keys) = (&mut tables[t], &mut keys[t]);
        let (Some(mut row), Some(mut op)) = (row, op) else {
            plan.truncate = Some(index);
            plan.entries.clear();
            keys.clear();
            continue;
        };
        if row.key.is_empty() {
            plan.entries.push(Entry { index, row, op });
            continue;
        }
        let key = format!("{:?}", row.key_cells);
        match keys.get(&key) {
            Some(&at) => {
                let previous = &plan.entries[at];
                if let Op::Upsert { .. } = op {
                    let delete_first = match previous.op {
                        Op::Delete => true,
                        Op::Upsert { delete_first } => {
                            fill_unavailable(&mut row, &previous.row);
                            delete_first
                        }
                    };
                    op = Op::Upsert { delete_first };
                }
                plan.entries[at] = Entry { index, row, op };
            }
            None => {
                keys.insert(key, plan.entries.len());
                plan.entries.push(Entry { index, row, op });
            }
        }
    }
    tables
}

/// Takes the values `row` lacks (TOAST) from an earlier row of the same key.
fn fill_unavailable(row: &mut Row, earlier: &Row) {
    for (column, cell) in row.columns.iter().zip(row.cells.iter_mut()) {
        if cell.is_some() {
            continue;
        }
        if let Some(at) = earlier.columns.iter().position(|c| c.name == column.name) {
            let value: Option<&Option<Cell>> = earlier.cells.get(at);
            if let Some(Some(v)) = value {
                *cell = Some(v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Column;
    use weir_connect_api::SchemaBuilder;

    fn col(name: &str) -> Column {
        Column {
            name: name.into(),
            schema: SchemaBuilder::string().optional().build(),
        }
    }

    fn upsert(table: &str, id: i64, cells: &[Option<&str>]) -> Change {
        Change::Upsert(
            TableId::parse(table).expect("table"),
            Row {
                key: vec![col("id")],
                key_cells: vec![Cell::Int(id)],
                columns: (0..cells.len()).map(|i| col(&format!("c{i}"))).collect(),
                cells: cells
                    .iter()
                    .map(|c| c.map(|s| Cell::Text(s.into())))
                    .collect(),
            },
        )
    }

    fn delete(table: &str, id: i64) -> Change {
        Change::Delete(
            TableId::parse(table).expect("table"),
            Row {
                key: vec![col("id")],
                key_cells: vec![Cell::Int(id)],
                columns: vec![],
                cells: vec![],
            },
        )
    }

    #[test]
    fn last_change_per_key_wins_and_keeps_toasted_values() {
        let plans = plan(vec![
            (0, upsert("a", 1, &[Some("x"), Some("big")])),
            (1, upsert("b", 1, &[Some("other table")])),
            (2, upsert("a", 1, &[Some("y"), None])),
            (3, upsert("a", 2, &[Some("z"), Some("v")])),
            (4, delete("a", 2)),
            (5, Change::Skip),
        ]);
        assert_eq!(plans.len(), 2);
        let a = &plans[0];
        assert_eq!(a.entries.len(), 2);
        assert_eq!(a.entries[0].index, 2);
        assert_eq!(
            a.entries[0].row.cells,
            [Some(Cell::Text("y".into())), Some(Cell::Text("big".into()))],
            "the TOASTed column comes from the earlier upsert"
        );
        assert_eq!((a.entries[1].index, a.entries[1].op), (4, Op::Delete));
        assert_eq!(plans[1].indices().collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn delete_then_insert_and_truncates() {
        let plans = plan(vec![
            (0, upsert("a", 1, &[Some("x")])),
            (1, delete("a", 1)),
            (2, upsert("a", 1, &[None])),
        ]);
        assert_eq!(plans[0].entries[0].op, Op::Upsert { delete_first: true });
        assert_eq!(
            plans[0].entries[0].row.cells,
            [None],
            "nothing from before the delete"
        );
        let t = TableId::parse("a").expect("table");
        let plans = plan(vec![
            (0, upsert("a", 1, &[Some("x")])),
            (1, Change::Truncate(t.clone())),
            (2, upsert("a", 2, &[Some("y")])),
            (3, upsert("a", 1, &[None])),
        ]);
        assert_eq!(plans[0].truncate, Some(1));
        assert_eq!(plans[0].indices().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(
            plans[0].entries[1].op,
            Op::Upsert {
                delete_first: false
            }
        );
    }
}
