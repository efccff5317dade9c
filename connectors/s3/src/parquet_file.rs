//! ParquetFormat: the value schema mapped as Confluent's (Connect -> Avro -> parquet-avro)
//! and records shredded into columns (Dremel definition and repetition levels).
//!
//! | Connect | Parquet |
//! |---|---|
//! | struct | group (the file's message is named after the value schema, else `io.confluent.connect.avro.ConnectDefault`) |
//! | optional | OPTIONAL, else REQUIRED |
//! | int8, int16, int32 / int64 | INT32 / INT64 |
//! | float32 / float64 / boolean | FLOAT / DOUBLE / BOOLEAN |
//! | string / bytes | BINARY (STRING) / BINARY |
//! | Date / Time / Timestamp | INT32 DATE / INT32 TIME(MILLIS) / INT64 TIMESTAMP(MILLIS, UTC) |
//! | Decimal | BINARY DECIMAL(precision from `connect.decimal.precision`, default 64; scale) |
//! | array | LIST with parquet-avro's two-level layout: `repeated <element> array` |
//! | map with string keys | MAP: `repeated group key_value { required binary key (STRING); value }` |
//!
//! Rows are shredded into column buffers as they come and written as a row group into the
//! spool every [`ROWS_PER_GROUP`] rows, so an open file holds at most one row group in
//! memory.

use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use weir_connect_api::schema::logical;
use weir_connect_api::{ConnectRecord, DataError, Schema, SchemaRef, SchemaType, Value};

use crate::spool::Spool;

/// Rows buffered before they are written as a row group.
pub const ROWS_PER_GROUP: usize = 10_000;
/// Parquet-avro's page size in Confluent's writer.
const PAGE_SIZE: usize = 64 * 1024;
const DEFAULT_RECORD_NAME: &str = "io.confluent.connect.avro.ConnectDefault";
const DECIMAL_PRECISION: &str = "connect.decimal.precision";
/// The error of a record without a value schema.
pub const SCHEMALESS: &str = "ParquetFormat needs records with a value schema; this record is schemaless (use a converter with schemas, e.g. JsonConverter with schemas.enable=true)";

/// `parquet.codec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Snappy,
    Gzip,
    Lz4,
    Zstd,
}

impl Codec {
    pub fn parse(name: &str) -> Self {
        match name.to_ascii_lowercase().as_str() {
            "gzip" => Codec::Gzip,
            "lz4" => Codec::Lz4,
            "zstd" => Codec::Zstd,
            "none" | "uncompressed" => Codec::None,
            _ => Codec::Snappy,
        }
    }

    /// parquet-java's `CompressionCodecName.getExtension()`.
    pub fn extension(self) -> &'static str {
        match self {
            Codec::None => "",
            Codec::Snappy => ".snappy",
            Codec::Gzip => ".gz",
            Codec::Lz4 => ".lz4hadoop",
            Codec::Zstd => ".zstd",
        }
    }

    fn compression(self) -> Compression {
        match self {
            Codec::None => Compression::UNCOMPRESSED,
            Codec::Snappy => Compression::SNAPPY,
            Codec::Gzip => Compression::GZIP(Default::default()),
            Codec::Lz4 => Compression::LZ4,
            Codec::Zstd => Compression::ZSTD(Default::default()),
        }
    }
}

/// The shape of a column tree, parallel to the Parquet schema.
#[derive(Debug)]
enum Node {
    Leaf {
        optional: bool,
        kind: Leaf,
        column: usize,
    },
    Group {
        optional: bool,
        fields: Vec<(String, Node)>,
    },
    /// Two-level list: the repeated element is the node itself.
    List { optional: bool, element: Box<Node> },
    /// `repeated group key_value { key; value }`.
    Map {
        optional: bool,
        key: Box<Node>,
        value: Box<Node>,
    },
}

/// How a leaf value is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Boolean,
    Int32,
    Int64,
    Float,
    Double,
    Binary,
}

/// One column's pending values and levels.
#[derive(Debug)]
struct Column {
    values: Values,
    def: Vec<i16>,
    rep: Vec<i16>,
    max_def: i16,
    max_rep: i16,
}

#[derive(Debug)]
enum Values {
    Boolean(Vec<bool>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Float(Vec<f32>),
    Double(Vec<f64>),
    Binary(Vec<ByteArray>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Boolean(v) => v.len(),
            Values::Int32(v) => v.len(),
            Values::Int64(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Double(v) => v.len(),
            Values::Binary(v) => v.len(),
        }
    }

    fn truncate(&mut self, n: usize) {
        match self {
            Values::Boolean(v) => v.truncate(n),
            Values::Int32(v) => v.truncate(n),
            Values::Int64(v) => v.truncate(n),
            Values::Float(v) => v.truncate(n),
            Values::Double(v) => v.truncate(n),
            Values::Binary(v) => v.truncate(n),
        }
    }

    fn new(kind: Leaf) -> Self {
        match kind {
            Leaf::Boolean => Values::Boolean(Vec::new()),
            Leaf::Int32 => Values::Int32(Vec::new()),
            Leaf::Int64 => Values::Int64(Vec::new()),
            Leaf::Float => Values::Float(Vec::new()),
            Leaf::Double => Values::Double(Vec::new()),
            Leaf::Binary => Values::Binary(Vec::new()),
        }
    }
}

/// An open Parquet file.
pub struct ParquetFile {
    schema: SchemaRef,
    root: Node,
    columns: Vec<Column>,
    /// Rows shredded into `columns` and not written yet.
    rows: usize,
    writer: SerializedFileWriter<Spool>,
}

impl ParquetFile {
    /// A file for values of `schema` (a struct), written into `spool`.
    pub fn open(schema: &SchemaRef, codec: Codec, spool: Spool) -> Result<Self, DataError> {
        if schema.kind != SchemaType::Struct {
            return Err(DataError::new(format!(
                "ParquetFormat writes struct values; the value schema is {}",
                schema.kind.name()
            )));
        }
        let mut columns = Vec::new();
        let mut fields = Vec::new();
        let mut nodes = Vec::new();
        for f in &schema.fields {
            let (ty, node) = build(&f.name, &f.schema, Repetition::OPTIONAL, 0, 0, &mut columns)?;
            fields.push(Arc::new(ty));
            nodes.push((f.name.clone(), node));
        }
        let name = schema.name.as_deref().unwrap_or(DEFAULT_RECORD_NAME);
        let message = Type::group_type_builder(name)
            .with_fields(fields)
            .build()
            .map_err(|e| DataError::new(format!("ParquetFormat: invalid schema: {e}")))?;
        let props = WriterProperties::builder()
            .set_compression(codec.compression())
            .set_dictionary_enabled(true)
            .set_data_page_size_limit(PAGE_SIZE)
            .set_created_by("weir".to_string())
            .build();
        let writer = SerializedFileWriter::new(spool, Arc::new(message), Arc::new(props))
            .map_err(|e| DataError::new(format!("ParquetFormat: {e}")))?;
        Ok(Self {
            schema: Arc::clone(schema),
            root: Node::Group {
                optional: false,
                fields: nodes,
            },
            columns,
            rows: 0,
            writer,
        })
    }

    /// Adds a record's value; a value that does not fit leaves the file as it was.
    pub fn push(&mut self, record: &ConnectRecord) -> Result<(), DataError> {
        let Some(schema) = &record.value_schema else {
            return Err(DataError::new(SCHEMALESS));
        };
        if !(Arc::ptr_eq(schema, &self.schema) || **schema == *self.schema) {
            return Err(DataError::new(
                "ParquetFormat: the record's schema differs from the file's",
            ));
        }
        let marks: Vec<(usize, usize)> = self
            .columns
            .iter()
            .map(|c| (c.values.len(), c.def.len()))
            .collect();
        if let Err(e) = shred(
            &self.root,
            Some(&record.value),
            0,
            0,
            0,
            &mut self.columns,
            "",
        ) {
            for (c, (values, levels)) in self.columns.iter_mut().zip(marks) {
                c.values.truncate(values);
                c.def.truncate(levels);
                c.rep.truncate(levels);
            }
            return Err(e);
        }
        self.rows += 1;
        if self.rows >= ROWS_PER_GROUP {
            self.write_group()?;
        }
        Ok(())
    }

    fn write_group(&mut self) -> Result<(), DataError> {
        if self.rows == 0 {
            return Ok(());
        }
        self.rows = 0;
        let err = |e: parquet::errors::ParquetError| DataError::new(format!("ParquetFormat: {e}"));
        let mut group = self.writer.next_row_group().map_err(err)?;
        let mut index = 0;
        while let Some(mut col) = group.next_column().map_err(err)? {
            let Some(c) = self.columns.get_mut(index) else {
                return Err(DataError::new(
                    "ParquetFormat: more columns than the schema",
                ));
            };
            let def = (c.max_def > 0).then_some(c.def.as_slice());
            let rep = (c.max_rep > 0).then_some(c.rep.as_slice());
            match (col.untyped(), &c.values) {
                (ColumnWriter::BoolColumnWriter(w), Values::Boolean(v)) => {
                    w.write_batch(v, def, rep)
                }
                (ColumnWriter::Int32ColumnWriter(w), Values::Int32(v)) => {
                    w.write_batch(v, def, rep)
                }
                (ColumnWriter::Int64ColumnWriter(w), Values::Int64(v)) => {
                    w.write_batch(v, def, rep)
                }
                (ColumnWriter::FloatColumnWriter(w), Values::Float(v)) => {
                    w.write_batch(v, def, rep)
                }
                (ColumnWriter::DoubleColumnWriter(w), Values::Double(v)) => {
                    w.write_batch(v, def, rep)
                }
                (ColumnWriter::ByteArrayColumnWriter(w), Values::Binary(v)) => {
                    w.write_batch(v, def, rep)
                }
                _ => return Err(DataError::new("ParquetFormat: column type mismatch")),
            }
            .map_err(err)?;
            col.close().map_err(err)?;
            c.values = Values::new(leaf_of(&c.values));
            c.def.clear();
            c.rep.clear();
            index += 1;
        }
        group.close().map_err(err)?;
        Ok(())
    }

    /// Writes the last row group and the footer.
    pub fn finish(mut self) -> Result<Spool, DataError> {
        self.write_group()?;
        self.writer
            .into_inner()
            .map_err(|e| DataError::new(format!("ParquetFormat: {e}")))
    }
}

fn leaf_of(values: &Values) -> Leaf {
    match values {
        Values::Boolean(_) => Leaf::Boolean,
        Values::Int32(_) => Leaf::Int32,
        Values::Int64(_) => Leaf::Int64,
        Values::Float(_) => Leaf::Float,
        Values::Double(_) => Leaf::Double,
        Values::Binary(_) => Leaf::Binary,
    }
}

fn schema_error(name: &str, e: parquet::errors::ParquetError) -> DataError {
    DataError::new(format!("ParquetFormat: cannot map field {name:?}: {e}"))
}

/// The Parquet type and column node of a field; `repetition` is used for an optional
/// field (REQUIRED otherwise); `def`/`rep` are the levels above it.
fn build(
    name: &str,
    schema: &Schema,
    repetition: Repetition,
    def: i16,
    rep: i16,
    columns: &mut Vec<Column>,
) -> Result<(Type, Node), DataError> {
    let repetition = match repetition {
        Repetition::OPTIONAL if !schema.optional => Repetition::REQUIRED,
        other => other,
    };
    let optional = repetition == Repetition::OPTIONAL;
    let here_def = def + i16::from(repetition != Repetition::REQUIRED);
    let here_rep = rep + i16::from(repetition == Repetition::REPEATED);
    match schema.kind {
        SchemaType::Struct => {
            let mut fields = Vec::new();
            let mut nodes = Vec::new();
            for f in &schema.fields {
                let (ty, node) = build(
                    &f.name,
                    &f.schema,
                    Repetition::OPTIONAL,
                    here_def,
                    here_rep,
                    columns,
                )?;
                fields.push(Arc::new(ty));
                nodes.push((f.name.clone(), node));
            }
            let ty = Type::group_type_builder(name)
                .with_repetition(repetition)
                .with_fields(fields)
                .build()
                .map_err(|e| schema_error(name, e))?;
            Ok((
                ty,
                Node::Group {
                    optional,
                    fields: nodes,
                },
            ))
        }
        SchemaType::Array => {
            let element = schema.value_schema.as_ref().ok_or_else(|| {
                DataError::new(format!(
                    "ParquetFormat: array {name:?} has no element schema"
                ))
            })?;
            let (ety, enode) = build(
                "array",
                element,
                Repetition::REPEATED,
                here_def,
                here_rep,
                columns,
            )?;
            let ty = Type::group_type_builder(name)
                .with_repetition(repetition)
                .with_logical_type(Some(LogicalType::List))
                .with_fields(vec![Arc::new(ety)])
                .build()
                .map_err(|e| schema_error(name, e))?;
            Ok((
                ty,
                Node::List {
                    optional,
                    element: Box::new(enode),
                },
            ))
        }
        SchemaType::Map => {
            let (Some(k), Some(v)) = (&schema.key_schema, &schema.value_schema) else {
                return Err(DataError::new(format!(
                    "ParquetFormat: map {name:?} has no key or value schema"
                )));
            };
            if k.kind != SchemaType::String {
                return Err(DataError::new(format!(
                    "ParquetFormat: map {name:?} has {} keys; weir writes maps with string keys",
                    k.kind.name()
                )));
            }
            let kv_def = here_def + 1;
            let kv_rep = here_rep + 1;
            let (kty, knode) = build("key", k, Repetition::REQUIRED, kv_def, kv_rep, columns)?;
            let (vty, vnode) = build("value", v, Repetition::OPTIONAL, kv_def, kv_rep, columns)?;
            let kv = Type::group_type_builder("key_value")
                .with_repetition(Repetition::REPEATED)
                .with_fields(vec![Arc::new(kty), Arc::new(vty)])
                .build()
                .map_err(|e| schema_error(name, e))?;
            let ty = Type::group_type_builder(name)
                .with_repetition(repetition)
                .with_logical_type(Some(LogicalType::Map))
                .with_fields(vec![Arc::new(kv)])
                .build()
                .map_err(|e| schema_error(name, e))?;
            Ok((
                ty,
                Node::Map {
                    optional,
                    key: Box::new(knode),
                    value: Box::new(vnode),
                },
            ))
        }
        _ => {
            let (physical, logical_type, leaf, decimal) = primitive(name, schema)?;
            let mut builder = Type::primitive_type_builder(name, physical)
                .with_repetition(repetition)
                .with_logical_type(logical_type);
            if let Some((precision, scale)) = decimal {
                builder = builder.with_precision(precision).with_scale(scale);
            }
            let ty = builder.build().map_err(|e| schema_error(name, e))?;
            let column = columns.len();
            columns.push(Column {
                values: Values::new(leaf),
                def: Vec::new(),
                rep: Vec::new(),
                max_def: here_def,
                max_rep: here_rep,
            });
            Ok((
                ty,
                Node::Leaf {
                    optional,
                    kind: leaf,
                    column,
                },
            ))
        }
    }
}

type Primitive = (Physical, Option<LogicalType>, Leaf, Option<(i32, i32)>);

fn primitive(name: &str, schema: &Schema) -> Result<Primitive, DataError> {
    let logical_name = schema.name.as_deref();
    Ok(match (schema.kind, logical_name) {
        (SchemaType::Bytes, Some(logical::DECIMAL)) => {
            let param = |key: &str| {
                schema
                    .parameters
                    .iter()
                    .find(|(k, _)| k.as_str() == key)
                    .and_then(|(_, v)| v.parse::<i32>().ok())
            };
            let scale = param("scale").unwrap_or(0);
            let precision = param(DECIMAL_PRECISION).unwrap_or(64);
            (
                Physical::BYTE_ARRAY,
                Some(LogicalType::decimal(scale, precision)),
                Leaf::Binary,
                Some((precision, scale)),
            )
        }
        (SchemaType::Int32, Some(logical::DATE)) => {
            (Physical::INT32, Some(LogicalType::Date), Leaf::Int32, None)
        }
        (SchemaType::Int32, Some(logical::TIME)) => (
            Physical::INT32,
            Some(LogicalType::time(true, TimeUnit::MILLIS)),
            Leaf::Int32,
            None,
        ),
        (SchemaType::Int64, Some(logical::TIMESTAMP)) => (
            Physical::INT64,
            Some(LogicalType::timestamp(true, TimeUnit::MILLIS)),
            Leaf::Int64,
            None,
        ),
        (SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32, _) => {
            (Physical::INT32, None, Leaf::Int32, None)
        }
        (SchemaType::Int64, _) => (Physical::INT64, None, Leaf::Int64, None),
        (SchemaType::Float32, _) => (Physical::FLOAT, None, Leaf::Float, None),
        (SchemaType::Float64, _) => (Physical::DOUBLE, None, Leaf::Double, None),
        (SchemaType::Boolean, _) => (Physical::BOOLEAN, None, Leaf::Boolean, None),
        (SchemaType::String, _) => (
            Physical::BYTE_ARRAY,
            Some(LogicalType::String),
            Leaf::Binary,
            None,
        ),
        (SchemaType::Bytes, _) => (Physical::BYTE_ARRAY, None, Leaf::Binary, None),
        (other, _) => {
            return Err(DataError::new(format!(
                "ParquetFormat: field {name:?} has unsupported type {}",
                other.name()
            )));
        }
    })
}

/// Adds `value` (absent = null) under `node` to the columns; `def` and `rep` are the levels
/// reached above it, `depth` the repetition depth of the enclosing repeated field.
fn shred(
    node: &Node,
    value: Option<&Value>,
    def: i16,
    rep: i16,
    depth: i16,
    columns: &mut [Column],
    path: &str,
) -> Result<(), DataError> {
    let value = value.filter(|v| !v.is_null());
    let optional = match node {
        Node::Leaf { optional, .. }
        | Node::Group { optional, .. }
        | Node::List { optional, .. }
        | Node::Map { optional, .. } => *optional,
    };
    let Some(value) = value else {
        if !optional {
            return Err(DataError::new(format!(
                "ParquetFormat: required field {} is null",
                if path.is_empty() { "(value)" } else { path }
            )));
        }
        null_below(node, def, rep, columns);
        return Ok(());
    };
    let def = def + i16::from(optional);
    let mismatch = |wanted: &str| {
        DataError::new(format!(
            "ParquetFormat: field {path} should hold {wanted}, found {}",
            value.kind().map_or("null", |k| k.name())
        ))
    };
    match node {
        Node::Leaf { kind, column, .. } => {
            let c = &mut columns[*column];
            match (&mut c.values, kind, value) {
                (Values::Boolean(v), _, Value::Boolean(b)) => v.push(*b),
                (Values::Int32(v), _, Value::Int8(n)) => v.push(i32::from(*n)),
                (Values::Int32(v), _, Value::Int16(n)) => v.push(i32::from(*n)),
                (Values::Int32(v), _, Value::Int32(n)) => v.push(*n),
                (Values::Int64(v), _, Value::Int64(n)) => v.push(*n),
                (Values::Float(v), _, Value::Float32(n)) => v.push(*n),
                (Values::Double(v), _, Value::Float64(n)) => v.push(*n),
                (Values::Binary(v), _, Value::String(s)) => {
                    v.push(ByteArray::from(s.as_bytes().to_vec()))
                }
                (Values::Binary(v), _, Value::Bytes(b)) => v.push(ByteArray::from(b.clone())),
                (_, kind, _) => return Err(mismatch(&format!("{kind:?}").to_lowercase())),
            }
            c.def.push(def);
            c.rep.push(rep);
        }
        Node::Group { fields, .. } => {
            let Value::Struct(st) = value else {
                return Err(mismatch("a struct"));
            };
            for (name, child) in fields {
                let child_path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                shred(child, st.get(name), def, rep, depth, columns, &child_path)?;
            }
        }
        Node::List { element, .. } => {
            let Value::Array(items) = value else {
                return Err(mismatch("an array"));
            };
            if items.is_empty() {
                null_below(element, def, rep, columns);
            }
            for (i, item) in items.iter().enumerate() {
                let r = if i == 0 { rep } else { depth + 1 };
                if item.is_null() {
                    return Err(DataError::new(format!(
                        "ParquetFormat: array {path} holds a null element"
                    )));
                }
                // The repeated element adds a definition level when present.
                shred(
                    element,
                    Some(item),
                    def + 1,
                    r,
                    depth + 1,
                    columns,
                    &format!("{path}[{i}]"),
                )?;
            }
        }
        Node::Map { key, value: v, .. } => {
            let Value::Map(entries) = value else {
                return Err(mismatch("a map"));
            };
            if entries.is_empty() {
                null_below(key, def, rep, columns);
                null_below(v, def, rep, columns);
            }
            for (i, (k, val)) in entries.iter().enumerate() {
                let r = if i == 0 { rep } else { depth + 1 };
                let at = format!("{path}[{i}]");
                shred(key, Some(k), def + 1, r, depth + 1, columns, &at)?;
                shred(v, Some(val), def + 1, r, depth + 1, columns, &at)?;
            }
        }
    }
    Ok(())
}

/// Every column under `node` gets an undefined entry at level `def`.
fn null_below(node: &Node, def: i16, rep: i16, columns: &mut [Column]) {
    match node {
        Node::Leaf { column, .. } => {
            let c = &mut columns[*column];
            c.def.push(def);
            c.rep.push(rep);
        }
        Node::Group { fields, .. } => {
            for (_, child) in fields {
                null_below(child, def, rep, columns);
            }
        }
        Node::List { element, .. } => null_below(element, def, rep, columns),
        Node::Map { key, value, .. } => {
            null_below(key, def, rep, columns);
            null_below(value, def, rep, columns);
        }
    }
}

#[cfg(test)]
mod tests;
