//! `ExtractField$Key` / `ExtractField$Value`: replaces the key or value with one of its
//! fields. With `field.syntax.version=V2` (KIP-821) the field is a dotted path into nested
//! structs or maps; a step holding a dot is wrapped in backticks (`` a.`b.c`.d ``).

use weir_connect_api::config::Validator;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, ConnectorError, Importance, Result, SchemaRef,
    Transform, Value,
};

use super::util::{self, Target};

const PURPOSE: &str = "field extraction";

#[derive(Debug)]
pub struct ExtractField {
    target: Target,
    /// The configured `field`, for messages.
    original: String,
    path: Vec<String>,
    replace_null_with_default: bool,
}

impl ExtractField {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            original: String::new(),
            path: Vec::new(),
            replace_null_with_default: true,
        }
    }
}

/// Splits a V2 path on dots; backticks wrap a step, and a backslash escapes a backtick in it.
fn parse_v2(path: &str) -> Vec<String> {
    let mut steps = Vec::new();
    let mut chars = path.chars().peekable();
    loop {
        let mut step = String::new();
        if chars.peek() == Some(&'`') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' if chars.peek() == Some(&'`') => {
                        step.push('`');
                        chars.next();
                    }
                    '`' if matches!(chars.peek(), None | Some('.')) => break,
                    c => step.push(c),
                }
            }
            steps.push(step);
            if chars.next().is_none() {
                return steps;
            }
            continue;
        }
        for c in chars.by_ref() {
            if c == '.' {
                steps.push(std::mem::take(&mut step));
                break;
            }
            step.push(c);
        }
        if chars.peek().is_none() {
            // Either the last step, or an empty one after a trailing dot.
            steps.push(step);
            return steps;
        }
    }
}

impl Transform for ExtractField {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                "field",
                ConfigType::String,
                None,
                Importance::Medium,
                "Field name to extract.",
            )
            .define(
                "field.syntax.version",
                ConfigType::String,
                Some("V1"),
                Importance::High,
                "Defines the version of the syntax to access fields. If set to `V1`, then the field paths are limited to access the elements at the root level of the struct or map. If set to `V2`, the syntax will support accessing nested elements. To access nested elements, dotted notation is used. If dots are already included in the field name, then backtick pairs can be used to wrap field names containing dots.",
            )
            .with_validator(Validator::OneOf(vec!["V1".into(), "V2".into()]))
            .merge(&util::replace_null_with_default_def())
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let c = util::parse(&self.config_def(), config)?;
        self.original = c.string("field").unwrap_or_default().to_string();
        let v2 = c
            .string("field.syntax.version")
            .is_some_and(|v| v.eq_ignore_ascii_case("V2"));
        self.path = if v2 {
            parse_v2(&self.original)
        } else {
            vec![self.original.clone()]
        };
        self.replace_null_with_default = c.boolean("replace.null.with.default").unwrap_or(true);
        Ok(())
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        let (schema, value) = self.target.take(&mut record);
        let unknown = || {
            ConnectorError::Data(weir_connect_api::DataError::new(format!(
                "Unknown field: {}",
                self.original
            )))
        };
        match schema {
            None => {
                let mut current = value;
                for step in &self.path {
                    current = match current {
                        Value::Null => Value::Null,
                        v => util::map_get(util::require_map(&v, PURPOSE)?, step)
                            .cloned()
                            .unwrap_or(Value::Null),
                    };
                }
                self.target.put(&mut record, None, current);
            }
            Some(schema) => {
                // Resolve the field's schema first: an unknown field fails even for null.
                let mut field_schema: SchemaRef = schema;
                for step in &self.path {
                    let f = field_schema.field(step).ok_or_else(unknown)?;
                    field_schema = f.schema.clone();
                }
                let mut current = value;
                for step in &self.path {
                    current = match current {
                        Value::Null => Value::Null,
                        v => {
                            let s = util::require_struct(&v, PURPOSE)?;
                            util::field_value(s, step, self.replace_null_with_default)
                        }
                    };
                }
                self.target.put(&mut record, Some(field_schema), current);
            }
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::util::testing::*;
    use weir_connect_api::SchemaBuilder;

    #[test]
    fn v2_paths_split_on_dots_outside_backticks() {
        assert_eq!(parse_v2("a.b.c"), ["a", "b", "c"]);
        assert_eq!(parse_v2("a.`b.c`.d"), ["a", "b.c", "d"]);
        assert_eq!(parse_v2("`x\\`y`"), ["x`y"]);
        assert_eq!(parse_v2("a."), ["a", ""]);
    }

    #[test]
    fn schemaless_v1_and_v2() {
        let t = configured(ExtractField::new(Target::Key), &[("field", "magic")]);
        let mut r = schemaless(Value::Null);
        r.key = map(&[("magic", Value::Int32(42))]);
        assert_eq!(apply(&t, r.clone()).key, Value::Int32(42));
        r.key = Value::Null;
        assert_eq!(apply(&t, r).key, Value::Null, "null key stays null");
        let t = configured(
            ExtractField::new(Target::Value),
            &[("field", "a.b"), ("field.syntax.version", "V2")],
        );
        let v = map(&[("a", map(&[("b", s("deep"))]))]);
        assert_eq!(apply(&t, schemaless(v)).value, s("deep"));
    }

    #[test]
    fn schemad_extracts_field_and_schema() {
        let inner = SchemaBuilder::structure()
            .field("id", SchemaBuilder::int64().build())
            .build();
        let schema = SchemaBuilder::structure()
            .field("after", inner.clone())
            .build();
        let after =
            util::build_struct(inner.clone(), [("id".into(), Value::Int64(7))]).expect("inner");
        let v = util::build_struct(schema.clone(), [("after".into(), Value::Struct(after))])
            .expect("outer");
        let r = ConnectRecord::new("t", None, Value::Null, Some(schema), Value::Struct(v));
        let t = configured(
            ExtractField::new(Target::Value),
            &[("field", "after.id"), ("field.syntax.version", "V2")],
        );
        let out = apply(&t, r.clone());
        assert_eq!(out.value, Value::Int64(7));
        assert_eq!(
            out.value_schema.map(|s| s.kind),
            Some(weir_connect_api::SchemaType::Int64)
        );
        let t = configured(ExtractField::new(Target::Value), &[("field", "nope")]);
        assert_eq!(
            t.apply(r).expect_err("unknown").to_string(),
            "Unknown field: nope"
        );
    }
}
