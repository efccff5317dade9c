//! Kafka Connect's built-in single message transforms and predicates, and the chain that
//! applies them as a connector's `transforms=` / `predicates=` config says.
//!
//! Every SMT keeps Kafka's class name, config keys, defaults and (where feasible) error
//! messages, and works on schema'd records (`Struct`) and schemaless ones (maps with string
//! keys) as Kafka's does. The registry below is the one place a class name becomes a
//! constructor: the full `org.apache.kafka.connect.transforms.*` name, or the short alias
//! without the package (`InsertField$Value`, `TopicNameMatches`).

mod cast;
mod cast_value;
pub mod chain;
mod extract_field;
mod filter;
mod headers;
mod hoist_field;
mod insert_field;
mod mask_field;
mod predicates;
mod regex_router;
mod replace_field;
mod set_schema_metadata;
mod timestamp_router;
mod util;
mod value_to_key;

pub use cast::Cast;
pub(crate) use cast_value::java_string;
pub use chain::{TransformChain, fan_out};
pub use extract_field::ExtractField;
pub use filter::Filter;
pub use headers::{DropHeaders, HeaderFrom, InsertHeader};
pub use hoist_field::HoistField;
pub use insert_field::InsertField;
pub use mask_field::MaskField;
pub use predicates::{HasHeaderKey, RecordIsTombstone, TopicNameMatches};
pub use regex_router::RegexRouter;
pub use replace_field::ReplaceField;
pub use set_schema_metadata::SetSchemaMetadata;
pub use timestamp_router::TimestampRouter;
pub use util::Target;
pub use value_to_key::ValueToKey;

use weir_connect_api::{Predicate, Transform};

type NewTransform = fn() -> Box<dyn Transform>;
type NewPredicate = fn() -> Box<dyn Predicate>;

const TRANSFORM_PACKAGE: &str = "org.apache.kafka.connect.transforms.";
const PREDICATE_PACKAGE: &str = "org.apache.kafka.connect.transforms.predicates.";

/// Every built-in transform by Kafka class name.
pub const TRANSFORMS: &[(&str, NewTransform)] = &[
    ("org.apache.kafka.connect.transforms.Cast$Key", || {
        Box::new(Cast::new(Target::Key))
    }),
    ("org.apache.kafka.connect.transforms.Cast$Value", || {
        Box::new(Cast::new(Target::Value))
    }),
    ("org.apache.kafka.connect.transforms.DropHeaders", || {
        Box::new(DropHeaders::default())
    }),
    (
        "org.apache.kafka.connect.transforms.ExtractField$Key",
        || Box::new(ExtractField::new(Target::Key)),
    ),
    (
        "org.apache.kafka.connect.transforms.ExtractField$Value",
        || Box::new(ExtractField::new(Target::Value)),
    ),
    ("org.apache.kafka.connect.transforms.Filter", || {
        Box::new(Filter)
    }),
    ("org.apache.kafka.connect.transforms.HeaderFrom$Key", || {
        Box::new(HeaderFrom::new(Target::Key))
    }),
    (
        "org.apache.kafka.connect.transforms.HeaderFrom$Value",
        || Box::new(HeaderFrom::new(Target::Value)),
    ),
    ("org.apache.kafka.connect.transforms.HoistField$Key", || {
        Box::new(HoistField::new(Target::Key))
    }),
    (
        "org.apache.kafka.connect.transforms.HoistField$Value",
        || Box::new(HoistField::new(Target::Value)),
    ),
    (
        "org.apache.kafka.connect.transforms.InsertField$Key",
        || Box::new(InsertField::new(Target::Key)),
    ),
    (
        "org.apache.kafka.connect.transforms.InsertField$Value",
        || Box::new(InsertField::new(Target::Value)),
    ),
    ("org.apache.kafka.connect.transforms.InsertHeader", || {
        Box::new(InsertHeader::default())
    }),
    ("org.apache.kafka.connect.transforms.MaskField$Key", || {
        Box::new(MaskField::new(Target::Key))
    }),
    (
        "org.apache.kafka.connect.transforms.MaskField$Value",
        || Box::new(MaskField::new(Target::Value)),
    ),
    ("org.apache.kafka.connect.transforms.RegexRouter", || {
        Box::new(RegexRouter::default())
    }),
    (
        "org.apache.kafka.connect.transforms.ReplaceField$Key",
        || Box::new(ReplaceField::new(Target::Key)),
    ),
    (
        "org.apache.kafka.connect.transforms.ReplaceField$Value",
        || Box::new(ReplaceField::new(Target::Value)),
    ),
    (
        "org.apache.kafka.connect.transforms.SetSchemaMetadata$Key",
        || Box::new(SetSchemaMetadata::new(Target::Key)),
    ),
    (
        "org.apache.kafka.connect.transforms.SetSchemaMetadata$Value",
        || Box::new(SetSchemaMetadata::new(Target::Value)),
    ),
    (
        "org.apache.kafka.connect.transforms.TimestampRouter",
        || Box::new(TimestampRouter::default()),
    ),
    ("org.apache.kafka.connect.transforms.ValueToKey", || {
        Box::new(ValueToKey::default())
    }),
    // Debezium's unwrap SMT, shipped with the Postgres connector.
    (
        weir_connector_postgres::EXTRACT_NEW_RECORD_STATE_CLASS,
        || Box::new(weir_connector_postgres::transforms::ExtractNewRecordState::new()),
    ),
    // Debezium's outbox event router.
    (weir_connector_outbox::EVENT_ROUTER_CLASS, || {
        Box::new(weir_connector_outbox::EventRouter::new())
    }),
];

/// Every built-in predicate by Kafka class name.
pub const PREDICATES: &[(&str, NewPredicate)] = &[
    (
        "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
        || Box::new(HasHeaderKey::default()),
    ),
    (
        "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
        || Box::new(RecordIsTombstone),
    ),
    (
        "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
        || Box::new(TopicNameMatches::default()),
    ),
];

fn lookup<T>(table: &[(&str, T)], package: &str, class: &str) -> Option<T>
where
    T: Copy,
{
    let class = class.trim();
    table
        .iter()
        .find(|(name, _)| *name == class || name.strip_prefix(package) == Some(class))
        .map(|(_, new)| *new)
}

/// A new, unconfigured transform for a class name or short alias.
pub fn new_transform(class: &str) -> Option<Box<dyn Transform>> {
    if let Some(new) = lookup(TRANSFORMS, TRANSFORM_PACKAGE, class) {
        return Some(new());
    }
    wasm_named(class, weir_wasm::Kind::Transform).map(|named| {
        Box::new(crate::wasm::WasmTransform::new(named.as_deref())) as Box<dyn Transform>
    })
}

/// For `type=wasm`, `Some(None)`; for the name of a WASM plugin of `kind` in `plugin.path`,
/// `Some(Some(name))`.
fn wasm_named(class: &str, kind: weir_wasm::Kind) -> Option<Option<String>> {
    let class = class.trim();
    if class == crate::wasm::TYPE {
        return Some(None);
    }
    match crate::wasm::registry::global().named(class)? {
        Ok(p) if p.kind == kind => Some(Some(class.to_string())),
        _ => None,
    }
}

/// A new, unconfigured predicate for a class name or short alias.
pub fn new_predicate(class: &str) -> Option<Box<dyn Predicate>> {
    if let Some(new) = lookup(PREDICATES, PREDICATE_PACKAGE, class) {
        return Some(new());
    }
    wasm_named(class, weir_wasm::Kind::Predicate).map(|named| {
        Box::new(crate::wasm::WasmPredicate::new(named.as_deref())) as Box<dyn Predicate>
    })
}

/// For a class that only exists as `$Key` / `$Value` variants (`...InsertField`), the
/// variants' full names, as Kafka suggests them ("Did you mean ...?").
pub fn variants_of(class: &str) -> Vec<&'static str> {
    let class = class.trim();
    let full = match class.strip_prefix(TRANSFORM_PACKAGE) {
        Some(_) => class.to_string(),
        None => format!("{TRANSFORM_PACKAGE}{class}"),
    };
    TRANSFORMS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| {
            name.strip_prefix(full.as_str())
                .is_some_and(|rest| rest == "$Key" || rest == "$Value")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_names_and_short_aliases_resolve() {
        assert!(new_transform("org.apache.kafka.connect.transforms.InsertField$Value").is_some());
        assert!(new_transform("InsertField$Value").is_some());
        assert!(new_transform("RegexRouter").is_some());
        assert!(new_transform("org.apache.kafka.connect.transforms.Nope").is_none());
        assert!(new_transform("InsertField").is_none());
        assert!(new_predicate("TopicNameMatches").is_some());
        assert!(
            new_predicate("org.apache.kafka.connect.transforms.predicates.RecordIsTombstone")
                .is_some()
        );
        assert_eq!(
            variants_of("InsertField"),
            [
                "org.apache.kafka.connect.transforms.InsertField$Key",
                "org.apache.kafka.connect.transforms.InsertField$Value"
            ]
        );
        assert!(variants_of("RegexRouter").is_empty());
    }
}
