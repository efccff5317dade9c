//! Chain tests: order, predicates with negate, dropping, and config error aggregation.

use super::*;
use crate::transforms::util::testing::{config, map, s, schemaless};
use weir_connect_api::Value;

fn chain(pairs: &[(&str, &str)]) -> TransformChain {
    TransformChain::from_config(&config(pairs)).expect("valid chain config")
}

fn errors(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    TransformChain::from_config(&config(pairs))
        .expect_err("invalid chain config")
        .into_iter()
        .map(|e| (e.key, e.message))
        .collect()
}

fn topic_record(topic: &str, value: Value) -> ConnectRecord {
    let mut r = schemaless(value);
    r.topic = topic.to_string();
    r
}

#[test]
fn applies_in_list_order() {
    let c = chain(&[
        ("transforms", "hoist, insert,route"),
        (
            "transforms.hoist.type",
            "org.apache.kafka.connect.transforms.HoistField$Value",
        ),
        ("transforms.hoist.field", "line"),
        ("transforms.insert.type", "InsertField$Value"),
        ("transforms.insert.topic.field", "topic"),
        (
            "transforms.route.type",
            "org.apache.kafka.connect.transforms.RegexRouter",
        ),
        ("transforms.route.regex", "([^.]+)\\.([^.]+)"),
        ("transforms.route.replacement", "$2"),
    ]);
    assert_eq!(
        c.aliases().collect::<Vec<_>>(),
        ["hoist", "insert", "route"]
    );
    let out = c
        .apply(topic_record("db.users", s("hello")))
        .expect("applies")
        .pop()
        .expect("kept");
    // insert ran before route: it saw the original topic.
    assert_eq!(
        out.value,
        map(&[("line", s("hello")), ("topic", s("db.users"))])
    );
    assert_eq!(out.topic, "users");
    assert!(
        TransformChain::from_config(&config(&[]))
            .expect("empty")
            .is_empty()
    );
}

#[test]
fn predicate_and_negate_select_records() {
    let base = [
        ("transforms", "dropTombstones,tag"),
        (
            "transforms.dropTombstones.type",
            "org.apache.kafka.connect.transforms.Filter",
        ),
        ("transforms.dropTombstones.predicate", "isTombstone"),
        (
            "transforms.tag.type",
            "org.apache.kafka.connect.transforms.InsertHeader",
        ),
        ("transforms.tag.header", "other"),
        ("transforms.tag.value.literal", "yes"),
        ("transforms.tag.predicate", "isOrders"),
        ("transforms.tag.negate", "true"),
        ("predicates", "isTombstone,isOrders"),
        (
            "predicates.isTombstone.type",
            "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
        ),
        ("predicates.isOrders.type", "TopicNameMatches"),
        ("predicates.isOrders.pattern", "orders.*"),
    ];
    let c = chain(&base);
    assert_eq!(
        c.apply(topic_record("orders", Value::Null))
            .expect("applies"),
        vec![]
    );
    let orders = c
        .apply(topic_record("orders", s("v")))
        .expect("applies")
        .pop()
        .expect("kept");
    assert!(
        orders.headers.is_empty(),
        "negated predicate matched: not tagged"
    );
    let users = c
        .apply(topic_record("users", s("v")))
        .expect("applies")
        .pop()
        .expect("kept");
    assert_eq!(
        users.headers.last("other").map(|h| &h.value),
        Some(&s("yes"))
    );
}

#[test]
fn transform_errors_propagate() {
    let c = chain(&[
        ("transforms", "extract"),
        ("transforms.extract.type", "ExtractField$Value"),
        ("transforms.extract.field", "id"),
    ]);
    let err = c.apply(topic_record("t", s("x"))).expect_err("not a map");
    assert_eq!(
        err.to_string(),
        "Only Map objects supported in absence of schema for [field extraction], found: java.lang.String"
    );
}

#[test]
fn every_config_error_is_reported_with_full_keys() {
    let errs = errors(&[
        ("transforms", "a,b,c,d,e,e"),
        (
            "transforms.a.type",
            "org.apache.kafka.connect.transforms.Nope",
        ),
        (
            "transforms.c.type",
            "org.apache.kafka.connect.transforms.RegexRouter",
        ),
        ("transforms.c.regex", "(.*)"),
        (
            "transforms.d.type",
            "org.apache.kafka.connect.transforms.InsertField",
        ),
        (
            "transforms.e.type",
            "org.apache.kafka.connect.transforms.HeaderFrom$Value",
        ),
        ("transforms.e.fields", "a,b"),
        ("transforms.e.headers", "h"),
        ("transforms.e.operation", "copy"),
        ("transforms.e.predicate", "missing"),
        ("transforms.b.negate", "true"),
        // Not listed in `transforms`: ignored (with a warning), as Kafka Connect does.
        ("transforms.typo.type", "Filter"),
        ("predicates", "p"),
    ]);
    // The native classes, then `wasm` (WASM plugins by module; none in plugin.path here).
    let mut known: Vec<&str> = TRANSFORMS.iter().map(|(n, _)| *n).collect();
    known.push("wasm");
    let expected = [
        ("transforms", "Invalid value a,b,c,d,e,e for configuration transforms: Duplicate alias provided.".to_string()),
        ("predicates.p.type", "Missing required configuration \"predicates.p.type\" which has no default value.".into()),
        (
            "transforms.a.type",
            format!(
                "Invalid value org.apache.kafka.connect.transforms.Nope for configuration transforms.a.type: Class org.apache.kafka.connect.transforms.Nope could not be found. Known transformations: {}",
                known.join(", ")
            ),
        ),
        ("transforms.b.negate", "Config 'transforms.b.negate' was provided but there is no config 'transforms.b.predicate' defining a predicate to be negated.".into()),
        ("transforms.b.type", "Missing required configuration \"transforms.b.type\" which has no default value.".into()),
        ("transforms.c.replacement", "Missing required configuration \"transforms.c.replacement\" which has no default value.".into()),
        (
            "transforms.d.type",
            "Invalid value org.apache.kafka.connect.transforms.InsertField for configuration transforms.d.type: Transformation is abstract and cannot be created. Did you mean org.apache.kafka.connect.transforms.InsertField$Key, org.apache.kafka.connect.transforms.InsertField$Value?".into(),
        ),
        ("transforms.e.predicate", "Invalid value missing for configuration transforms.e.predicate: Predicate 'missing' is not defined: list it in 'predicates' and set 'predicates.missing.type'".into()),
        ("transforms.e.headers", "'fields' config must have the same number of elements as 'headers' config.".into()),
    ];
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(k, m)| (k.to_string(), m))
        .collect();
    assert_eq!(errs, expected);
}

#[test]
fn plugin_messages_name_the_prefixed_key() {
    let errs = errors(&[
        ("transforms", "cast"),
        ("transforms.cast.type", "Cast$Value"),
        ("transforms.cast.spec", "a:b:c"),
        ("predicates", "p"),
        (
            "predicates.p.type",
            "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
        ),
        ("predicates.p.pattern", "("),
    ]);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].0, "predicates.p.pattern");
    assert!(
        errs[0]
            .1
            .starts_with("Invalid value ( for configuration predicates.p.pattern: Invalid regex:"),
        "{errs:?}"
    );
    assert_eq!(
        errs[1],
        (
            "transforms.cast.spec".to_string(),
            "Invalid value [a:b:c] for configuration transforms.cast.spec: Invalid rename mapping: a:b:c".to_string()
        )
    );
}

#[test]
fn batches_give_what_records_one_by_one_give() {
    let c = chain(&[
        ("transforms", "dropTombstones,tag,route"),
        (
            "transforms.dropTombstones.type",
            "org.apache.kafka.connect.transforms.Filter",
        ),
        ("transforms.dropTombstones.predicate", "isTombstone"),
        (
            "transforms.tag.type",
            "org.apache.kafka.connect.transforms.InsertHeader",
        ),
        ("transforms.tag.header", "seen"),
        ("transforms.tag.value.literal", "yes"),
        ("transforms.tag.predicate", "isOrders"),
        ("transforms.route.type", "RegexRouter"),
        ("transforms.route.regex", "(.*)"),
        ("transforms.route.replacement", "out-$1"),
        ("predicates", "isTombstone,isOrders"),
        ("predicates.isTombstone.type", "RecordIsTombstone"),
        ("predicates.isOrders.type", "TopicNameMatches"),
        ("predicates.isOrders.pattern", "orders"),
    ]);
    assert!(!c.batched(), "native transforms go record by record");
    let input = vec![
        topic_record("orders", s("a")),
        topic_record("orders", Value::Null),
        topic_record("users", s("b")),
        topic_record("orders", s("c")),
    ];
    let one_by_one: Vec<(ConnectRecord, u32)> = input
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            c.apply(r.clone())
                .expect("applies")
                .into_iter()
                .map(move |o| (o, i as u32))
        })
        .collect();
    let (records, origins) = c.apply_batch(input).expect("batch");
    assert_eq!(origins, [0, 2, 3]);
    assert_eq!(
        records.into_iter().zip(origins).collect::<Vec<_>>(),
        one_by_one
    );
}
