//! A captured table: its columns, the key and value schemas Debezium derives from them,
//! the envelope schema and topic, and rows of text values turned into value structs.

use std::fmt;

use weir_connect_api::{SchemaBuilder, SchemaRef, Struct, Value};

use super::SchemaError;
use super::convert::{convert, fallback, toast_placeholder};
use super::defaults::default_value;
use super::envelope::{source_schema, transaction_block_schema};
use super::mapping::{Conv, map_column};
use super::options::ValueOptions;
use super::types::TypeRegistry;

/// A table's schema-qualified name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId {
    pub schema: String,
    pub table: String,
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// One column as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    pub type_oid: u32,
    pub type_modifier: i32,
    /// `NOT attnotnull`.
    pub optional: bool,
    pub primary_key: bool,
    /// Position in the primary key (1-based; 0 when not a key column). Key fields follow
    /// this order, as Debezium's (the constraint's, not the table's).
    pub key_seq: u32,
    /// `pg_get_expr(adbin, adrelid)`.
    pub default_expr: Option<String>,
}

/// The columns of one table, in `attnum` order, as text columns: name, type oid, typmod,
/// optional (`true`/`false`), primary key position (NULL if not in the key), default
/// expression. Substitute the quoted literals with [`table_columns_sql`].
pub const TABLE_COLUMNS_SQL: &str = "SELECT a.attname::text, a.atttypid::text, a.atttypmod::text, \
     (NOT a.attnotnull)::text, array_position(pk.conkey, a.attnum)::text, \
     pg_catalog.pg_get_expr(d.adbin, d.adrelid) \
     FROM pg_catalog.pg_attribute a \
     JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
     LEFT JOIN pg_catalog.pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p' \
     WHERE n.nspname = $schema AND c.relname = $table AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY a.attnum";

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// [`TABLE_COLUMNS_SQL`] for one table, with its names as quoted literals.
pub fn table_columns_sql(id: &TableId) -> String {
    TABLE_COLUMNS_SQL
        .replace("$schema", &quote_literal(&id.schema))
        .replace("$table", &quote_literal(&id.table))
}

impl ColumnInfo {
    /// Reads one row of [`TABLE_COLUMNS_SQL`].
    pub fn from_row(row: &[Option<String>]) -> Result<ColumnInfo, SchemaError> {
        let get = |i: usize| row.get(i).and_then(|v| v.as_deref());
        let name = get(0)
            .ok_or_else(|| SchemaError::Catalog("column row without a name".into()))?
            .to_string();
        let bad = |what: &str| SchemaError::Catalog(format!("column {name} has no valid {what}"));
        let type_oid = get(1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("type oid"))?;
        let type_modifier = get(2)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("type modifier"))?;
        let optional = get(3).is_none_or(|v| v == "true" || v == "t");
        let key_seq: u32 = get(4).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(ColumnInfo {
            name: name.clone(),
            type_oid,
            type_modifier,
            optional,
            primary_key: key_seq > 0,
            key_seq,
            default_expr: get(5).map(str::to_string),
        })
    }
}

/// One column value of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnValue<'a> {
    Null,
    /// An unchanged TOASTed value pgoutput did not send: Debezium's placeholder.
    Unchanged,
    Text(&'a str),
}

#[derive(Debug, Clone)]
struct Mapped {
    /// Index into the columns given to [`TableSchema::build`].
    source: usize,
    name: String,
    type_name: String,
    schema: SchemaRef,
    conv: Conv,
}

/// The schemas and converters of one captured table.
#[derive(Debug, Clone)]
pub struct TableSchema {
    id: TableId,
    topic: String,
    columns_in: usize,
    mapped: Vec<Mapped>,
    /// Indexes into `mapped`, in key order.
    key_fields: Vec<usize>,
    key_schema: Option<SchemaRef>,
    value_schema: SchemaRef,
    envelope_schema: SchemaRef,
    placeholder: Vec<u8>,
}

impl TableSchema {
    /// Builds the schemas of `id` under topic prefix `prefix`. Columns whose type Debezium
    /// does not map are left out; `keep_column` (column.include/exclude.list) filters the
    /// others, except key columns, which are always kept.
    pub fn build(
        prefix: &str,
        id: TableId,
        columns: Vec<ColumnInfo>,
        types: &TypeRegistry,
        opts: &ValueOptions,
        keep_column: &dyn Fn(&str) -> bool,
    ) -> Result<TableSchema, SchemaError> {
        let topic = format!("{prefix}.{}.{}", id.schema, id.table);
        let mut value = SchemaBuilder::structure().name(format!("{topic}.Value"));
        let mut mapped = Vec::new();
        for (i, col) in columns.iter().enumerate() {
            if !col.primary_key && !keep_column(&col.name) {
                continue;
            }
            let Some((builder, conv)) = map_column(types, opts, col.type_oid, col.type_modifier)
            else {
                tracing::debug!(table = %id, column = %col.name, type_oid = col.type_oid, "column type not mapped; column left out");
                continue;
            };
            let mut builder = if col.optional {
                builder.optional()
            } else {
                builder
            };
            let base = builder.clone().build();
            if let Some(expr) = &col.default_expr {
                let type_name = types
                    .get(col.type_oid)
                    .map(|t| t.name.as_str())
                    .unwrap_or("");
                if let Some(v) = default_value(types, type_name, expr, &conv, &base) {
                    builder = builder.default_value(v);
                }
            }
            let schema = builder.build();
            value = value.field(col.name.clone(), schema.clone());
            mapped.push(Mapped {
                source: i,
                name: col.name.clone(),
                type_name: types
                    .get(col.type_oid)
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
                schema,
                conv,
            });
        }
        let value_schema = value.optional().build();
        let mut key_fields: Vec<usize> = (0..mapped.len())
            .filter(|m| columns[mapped[*m].source].primary_key)
            .collect();
        key_fields.sort_by_key(|m| (columns[mapped[*m].source].key_seq, mapped[*m].source));
        let key_schema = (!key_fields.is_empty()).then(|| {
            let mut k = SchemaBuilder::structure().name(format!("{topic}.Key"));
            for m in &key_fields {
                k = k.field(mapped[*m].name.clone(), mapped[*m].schema.clone());
            }
            k.build()
        });
        let envelope_schema = SchemaBuilder::structure()
            .name(format!("{topic}.Envelope"))
            .version(2)
            .field("before", value_schema.clone())
            .field("after", value_schema.clone())
            .field("source", source_schema())
            .field("op", SchemaBuilder::string().build())
            .field("ts_ms", SchemaBuilder::int64().optional().build())
            .field("ts_us", SchemaBuilder::int64().optional().build())
            .field("ts_ns", SchemaBuilder::int64().optional().build())
            .field("transaction", transaction_block_schema())
            .build();
        Ok(TableSchema {
            id,
            topic,
            columns_in: columns.len(),
            mapped,
            key_fields,
            key_schema,
            value_schema,
            envelope_schema,
            placeholder: opts.placeholder_bytes(),
        })
    }

    pub fn id(&self) -> &TableId {
        &self.id
    }
    /// `<prefix>.<schema>.<table>`.
    pub fn topic(&self) -> &str {
        &self.topic
    }
    /// `<topic>.Key`, `None` for a table without primary key.
    pub fn key_schema(&self) -> Option<&SchemaRef> {
        self.key_schema.as_ref()
    }
    /// `<topic>.Value` (optional struct).
    pub fn value_schema(&self) -> &SchemaRef {
        &self.value_schema
    }
    /// `<topic>.Envelope`, version 2.
    pub fn envelope_schema(&self) -> &SchemaRef {
        &self.envelope_schema
    }
    /// Names of the columns kept in the value, in order.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.mapped.iter().map(|m| m.name.as_str())
    }

    /// The value struct of a row; `values` are in the order of the columns given to
    /// [`TableSchema::build`] (all of them, before filtering).
    pub fn row(&self, values: &[ColumnValue<'_>]) -> Result<Struct, SchemaError> {
        if values.len() != self.columns_in {
            return Err(SchemaError::RowShape {
                table: self.id.to_string(),
                expected: self.columns_in,
                got: values.len(),
            });
        }
        let mut out = Struct::new(self.value_schema.clone());
        for m in &self.mapped {
            let v = match values[m.source] {
                ColumnValue::Null if m.schema.optional => Value::Null,
                ColumnValue::Null => m
                    .schema
                    .default
                    .clone()
                    .unwrap_or_else(|| fallback(&m.conv, &m.schema)),
                ColumnValue::Unchanged => {
                    toast_placeholder(&m.conv, &m.schema, &m.type_name, &self.placeholder)
                }
                ColumnValue::Text(t) => {
                    convert(&m.conv, &m.schema, t).map_err(|message| SchemaError::Value {
                        table: self.id.to_string(),
                        column: m.name.clone(),
                        message,
                    })?
                }
            };
            let v = if v.is_null() && !m.schema.optional {
                fallback(&m.conv, &m.schema)
            } else {
                v
            };
            out.put(&m.name, v).map_err(|e| SchemaError::Value {
                table: self.id.to_string(),
                column: m.name.clone(),
                message: e.to_string(),
            })?;
        }
        Ok(out)
    }

    /// The key struct of a value struct made by [`TableSchema::row`].
    pub fn key_of(&self, row: &Struct) -> Option<Struct> {
        let schema = self.key_schema.clone()?;
        let mut key = Struct::new(schema);
        for m in &self.key_fields {
            let name = &self.mapped[*m].name;
            let v = row.get(name).cloned().unwrap_or(Value::Null);
            key.put(name, v).ok()?;
        }
        Some(key)
    }
}
