//! Table names: the destination of a record from `table.name.format` (Confluent: `${topic}`
//! as it is, dots separate catalog, schema and table) or `collection.name.format`
//! (Debezium: `${topic}` with dots replaced by underscores, `${source.<field>}` from the
//! event's source block), parsed into at most three parts.

use std::fmt;

use weir_connect_api::{ConnectRecord, Value};

use crate::config::Flavor;

/// A table name: `[catalog.][schema.]table`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId {
    parts: Vec<String>,
}

impl TableId {
    /// Splits `name` on dots outside double quotes or backticks (`"a.b".c` is two parts).
    pub fn parse(name: &str) -> Result<TableId, String> {
        let mut parts = Vec::new();
        let mut current = String::new();
        let mut quote: Option<char> = None;
        let mut quoted_part = false;
        let mut chars = name.chars().peekable();
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some(q), c) if c == q => {
                    if chars.peek() == Some(&q) {
                        current.push(q);
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                (Some(_), c) => current.push(c),
                (None, '"' | '`') if current.is_empty() => {
                    quote = Some(c);
                    quoted_part = true;
                }
                (None, '.') => {
                    parts.push(std::mem::take(&mut current));
                    quoted_part = false;
                }
                (None, c) => current.push(c),
            }
        }
        if quote.is_some() {
            return Err(format!("the table name {name:?} has an unclosed quote"));
        }
        if !current.is_empty() || quoted_part {
            parts.push(current);
        }
        if parts.is_empty() || parts.len() > 3 || parts.iter().any(String::is_empty) {
            return Err(format!(
                "{name:?} is not a table name ([catalog.][schema.]table, no empty parts)"
            ));
        }
        Ok(TableId { parts })
    }

    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    /// The table's own name (the last part).
    pub fn table(&self) -> &str {
        self.parts.last().map_or("", String::as_str)
    }

    /// The part before the table (schema on PostgreSQL, database on MySQL), if any.
    pub fn namespace(&self) -> Option<&str> {
        self.parts
            .len()
            .checked_sub(2)
            .map(|i| self.parts[i].as_str())
    }

    /// The catalog of a three-part name.
    pub fn catalog(&self) -> Option<&str> {
        (self.parts.len() == 3).then(|| self.parts[0].as_str())
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.parts.join("."))
    }
}

/// The destination table of `record` under `format`.
pub fn destination(
    flavor: Flavor,
    format: &str,
    record: &ConnectRecord,
) -> Result<TableId, String> {
    let mut name = String::with_capacity(format.len() + record.topic.len());
    let mut rest = format;
    while let Some(start) = rest.find("${") {
        name.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            name.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let variable = &after[..end];
        match (variable, flavor) {
            ("topic", Flavor::Confluent) => name.push_str(&record.topic),
            ("topic", Flavor::Debezium) => name.push_str(&record.topic.replace('.', "_")),
            (v, Flavor::Debezium) if v.starts_with("source.") => {
                let field = &v["source.".len()..];
                let source = record
                    .value
                    .as_struct()
                    .and_then(|s| s.get("source"))
                    .and_then(Value::as_struct);
                match source.and_then(|s| s.get(field)) {
                    Some(Value::String(s)) => name.push_str(s),
                    Some(v) if !v.is_null() && v.kind().is_some_and(|k| k.is_primitive()) => {
                        name.push_str(&format!("{v:?}"));
                    }
                    _ => {
                        return Err(format!(
                            "the table name format {format:?} needs ${{{variable}}}, but the record has no source field {field:?}"
                        ));
                    }
                }
            }
            _ => {
                return Err(format!(
                    "the table name format {format:?} has an unknown placeholder ${{{variable}}}"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    name.push_str(rest);
    TableId::parse(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_connect_api::{SchemaBuilder, Struct};

    fn record(topic: &str) -> ConnectRecord {
        let source = SchemaBuilder::structure()
            .field("schema", SchemaBuilder::string().build())
            .field("table", SchemaBuilder::string().build())
            .build();
        let envelope = SchemaBuilder::structure()
            .field("source", source.clone())
            .build();
        let mut s = Struct::new(source);
        s.put("schema", Value::String("public".into()))
            .expect("schema");
        s.put("table", Value::String("orders".into()))
            .expect("table");
        let mut e = Struct::new(envelope.clone());
        e.put("source", Value::Struct(s)).expect("source");
        ConnectRecord::new(topic, None, Value::Null, Some(envelope), Value::Struct(e))
    }

    #[test]
    fn names_follow_each_flavor() {
        let r = record("dbserver1.public.orders");
        let c = destination(Flavor::Confluent, "${topic}", &r).expect("confluent");
        assert_eq!(c.parts(), ["dbserver1", "public", "orders"]);
        assert_eq!(
            (c.catalog(), c.namespace()),
            (Some("dbserver1"), Some("public"))
        );
        let d = destination(Flavor::Debezium, "${topic}", &r).expect("debezium");
        assert_eq!(d.parts(), ["dbserver1_public_orders"]);
        let s = destination(Flavor::Debezium, "archive.${source.table}", &r).expect("source");
        assert_eq!(s.parts(), ["archive", "orders"]);
        assert!(destination(Flavor::Confluent, "${source.table}", &r).is_err());
        assert!(
            destination(Flavor::Debezium, "${source.missing}", &r)
                .is_err_and(|e| e.contains("no source field \"missing\""))
        );
    }

    #[test]
    fn quotes_keep_dots() {
        let t = TableId::parse("\"my.schema\".`t``x`").expect("quoted");
        assert_eq!(t.parts(), ["my.schema", "t`x"]);
        assert!(TableId::parse("a..b").is_err());
        assert!(TableId::parse("a.b.c.d").is_err());
        assert!(TableId::parse("\"open").is_err());
        assert_eq!(TableId::parse("\"\"\"x\"").expect("escaped").table(), "\"x");
    }
}
