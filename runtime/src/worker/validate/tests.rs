use super::*;
use weir_connect_api::{ConfigType, Importance};

fn config(pairs: &[(&str, &str)]) -> ConfigMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn source() -> ConfigMap {
    config(&[
        ("name", "src"),
        ("connector.class", "FileStreamSource"),
        ("file", "/tmp/in.txt"),
        ("topic", "lines"),
    ])
}

fn errors_of<'a>(infos: &'a ConfigInfos, key: &str) -> &'a [String] {
    infos
        .configs
        .iter()
        .find(|c| c.value.name == key)
        .map(|c| c.value.errors.as_slice())
        .unwrap_or_else(|| panic!("no entry for {key}: {infos:#?}"))
}

fn value_of(infos: &ConfigInfos, key: &str) -> Option<String> {
    infos
        .configs
        .iter()
        .find(|c| c.value.name == key)
        .unwrap_or_else(|| panic!("no entry for {key}"))
        .value
        .value
        .clone()
}

#[test]
fn a_valid_source_config_has_no_errors_and_kafkas_layout() {
    let infos = validate(&source());
    assert_eq!(infos.error_count, 0, "{:#?}", invalid_message(&infos));
    assert_eq!(infos.name, "FileStreamSource");
    assert_eq!(
        infos.groups,
        ["Common", "Transforms", "Predicates", "Error Handling"]
    );
    let names: Vec<&str> = infos
        .configs
        .iter()
        .map(|c| c.value.name.as_str())
        .collect();
    assert_eq!(&names[..3], ["name", "connector.class", "tasks.max"]);
    assert!(names.contains(&"errors.tolerance"), "{names:?}");
    assert!(names.contains(&"file") && names.contains(&"batch.size"));
    assert!(!names.contains(&"topics"), "topics is sink-only: {names:?}");
    assert_eq!(value_of(&infos, "tasks.max").as_deref(), Some("1"));
    assert_eq!(value_of(&infos, "batch.size").as_deref(), Some("2000"));
    assert_eq!(value_of(&infos, "key.converter"), None);
    assert_eq!(invalid_message(&infos), None);
}

#[test]
fn definitions_serialize_with_kafkas_field_names_in_order() {
    let infos = validate(&source());
    let json = serde_json::to_string(&infos.configs[2]).expect("serializes");
    assert_eq!(
        json,
        "{\"definition\":{\"name\":\"tasks.max\",\"type\":\"INT\",\"required\":false,\
         \"default_value\":\"1\",\"importance\":\"HIGH\",\"documentation\":\"Maximum number of \
         tasks to use for this connector.\",\"group\":\"Common\",\"width\":\"SHORT\",\
         \"display_name\":\"Tasks max\",\"dependents\":[],\"order\":3},\
         \"value\":{\"name\":\"tasks.max\",\"value\":\"1\",\"recommended_values\":[],\
         \"errors\":[],\"visible\":true}}"
    );
    let top = serde_json::to_string(&infos).expect("serializes");
    assert!(
        top.starts_with("{\"name\":\"FileStreamSource\",\"error_count\":0,\"groups\":[")
            && top.contains("],\"configs\":[{"),
        "{top}"
    );
}

#[test]
fn missing_required_keys_and_bad_values_are_all_reported() {
    let mut c = source();
    c.remove("topic");
    c.insert("tasks.max".into(), "0".into());
    c.insert("config.action.reload".into(), "sometimes".into());
    let infos = validate(&c);
    assert_eq!(infos.error_count, 3, "{infos:#?}");
    assert_eq!(
        errors_of(&infos, "topic"),
        ["Missing required configuration \"topic\" which has no default value."]
    );
    assert_eq!(
        errors_of(&infos, "tasks.max"),
        ["Invalid value 0 for configuration tasks.max: Value must be at least 1"]
    );
    assert_eq!(
        value_of(&infos, "tasks.max"),
        None,
        "invalid values show null"
    );
    let message = invalid_message(&infos).expect("invalid");
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(
        lines[0],
        "Connector configuration is invalid and contains the following 3 error(s):"
    );
    assert_eq!(lines.len(), 5, "{message}");
    assert!(
        lines.contains(&"Missing required configuration \"topic\" which has no default value.")
    );
    assert_eq!(
        lines[4],
        "You can also find the above list of errors at the endpoint \
         `/connector-plugins/{connectorType}/config/validate`"
    );
}

#[test]
fn unknown_connector_class_lists_the_known_ones() {
    let infos = validate(&config(&[
        ("name", "x"),
        ("connector.class", "com.example.Nope"),
    ]));
    let errors = errors_of(&infos, "connector.class");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(
            "Invalid value com.example.Nope for configuration connector.class: Class \
             com.example.Nope could not be found. Known connector classes: "
        ),
        "{errors:?}"
    );
    for class in plugins::known_classes() {
        assert!(
            errors[0].contains(class.as_str()),
            "{class} missing from {errors:?}"
        );
    }
    let infos = validate(&config(&[("name", "x")]));
    assert_eq!(
        errors_of(&infos, "connector.class"),
        ["Missing required configuration \"connector.class\" which has no default value."]
    );
}

#[test]
fn name_must_not_be_empty() {
    let mut c = source();
    c.insert("name".into(), "  ".into());
    let infos = validate(&c);
    assert_eq!(
        errors_of(&infos, "name"),
        ["Invalid value  for configuration name: String may not be empty"]
    );
}

#[test]
fn a_sink_needs_exactly_one_of_topics_and_topics_regex() {
    let sink = |extra: &[(&str, &str)]| {
        let mut c = config(&[("name", "s"), ("connector.class", "FileStreamSink")]);
        c.extend(config(extra));
        validate(&c)
    };
    let neither = sink(&[]);
    assert_eq!(neither.error_count, 2);
    assert_eq!(
        errors_of(&neither, "topics"),
        ["Must configure one of topics or topics.regex"]
    );
    assert_eq!(
        errors_of(&neither, "topics.regex"),
        ["Must configure one of topics or topics.regex"]
    );
    let both = sink(&[("topics", "a"), ("topics.regex", "b.*")]);
    assert_eq!(
        errors_of(&both, "topics"),
        ["topics and topics.regex are mutually exclusive options, but both are set."]
    );
    assert_eq!(sink(&[("topics", "a,b")]).error_count, 0);
    assert_eq!(sink(&[("topics.regex", "a.*")]).error_count, 0);
    let dlq = sink(&[
        ("topics", "a,b"),
        ("errors.deadletterqueue.topic.name", "b"),
    ]);
    assert_eq!(
        errors_of(&dlq, "topics"),
        [
            "The DLQ topic 'b' may not be included in the list of topics ('topics=[a, b]') \
          consumed by the connector"
        ]
    );
    let bad_regex = sink(&[("topics.regex", "(")]);
    assert_eq!(bad_regex.error_count, 1, "{bad_regex:#?}");
    assert!(
        errors_of(&bad_regex, "topics.regex")[0]
            .starts_with("Invalid value ( for configuration topics.regex: ")
    );
}

#[test]
fn transform_errors_land_on_the_transform_keys() {
    let mut c = source();
    c.extend(config(&[
        ("transforms", "route,bad"),
        ("transforms.route.type", "RegexRouter"),
        ("transforms.bad.type", "com.example.Nope"),
    ]));
    let infos = validate(&c);
    assert_eq!(
        errors_of(&infos, "transforms.route.regex"),
        ["Missing required configuration \"transforms.route.regex\" which has no default value."]
    );
    assert!(
        errors_of(&infos, "transforms.bad.type")[0]
            .starts_with("Invalid value com.example.Nope for configuration transforms.bad.type"),
        "{infos:#?}"
    );
    assert!(infos.groups.contains(&"Transforms: route".to_string()));
    let route_type = infos
        .configs
        .iter()
        .find(|c| c.value.name == "transforms.route.type")
        .expect("type entry");
    assert!(
        route_type
            .value
            .recommended_values
            .contains(&"org.apache.kafka.connect.transforms.RegexRouter".to_string())
    );
    assert_eq!(infos.error_count, 3, "{infos:#?}");
}

#[test]
fn converter_classes_and_sub_configs_are_checked() {
    let mut c = source();
    c.extend(config(&[
        ("key.converter", "com.example.AvroConverter"),
        ("value.converter", "JsonConverter"),
        ("value.converter.schemas.enable", "maybe"),
        (
            "header.converter",
            "org.apache.kafka.connect.storage.SimpleHeaderConverter",
        ),
    ]));
    let infos = validate(&c);
    assert_eq!(infos.error_count, 2, "{infos:#?}");
    assert!(
        errors_of(&infos, "key.converter")[0]
            .contains("Known converters: org.apache.kafka.connect.json.JsonConverter"),
        "{infos:#?}"
    );
    assert_eq!(
        errors_of(&infos, "value.converter.schemas.enable"),
        [
            "Invalid value maybe for configuration value.converter.schemas.enable: Expected \
          value to be either true or false"
        ]
    );
    c.insert("value.converter".into(), "StringConverter".into());
    c.insert("value.converter.converter.encoding".into(), "EBCDIC".into());
    let infos = validate(&c);
    assert!(
        errors_of(&infos, "value.converter.converter.encoding")[0].contains("unsupported encoding"),
        "{infos:#?}"
    );
}

#[test]
fn password_values_are_hidden() {
    let def = Def {
        name: "connection.password".into(),
        kind: ConfigType::Password,
        required: true,
        default: None,
        importance: Importance::High,
        documentation: String::new(),
        validator: None,
        group: None,
        order: -1,
        width: "NONE",
        display_name: "connection.password".into(),
        recommended: Vec::new(),
        chain_checked: false,
    };
    let c = config(&[("connection.password", "hunter2")]);
    let (value, errors) = def.check(&c);
    assert_eq!(value.as_deref(), Some("[hidden]"));
    assert!(errors.is_empty());
    let json = serde_json::to_string(&entry(&def, value, errors)).expect("serializes");
    assert!(!json.contains("hunter2"), "{json}");
}

#[test]
fn plugin_listing_with_and_without_connectors_only() {
    let connectors = connector_plugins(true);
    assert_eq!(connectors.len(), plugins::CONNECTORS.len());
    assert_eq!(connectors[0].kind, "sink", "sinks come first, as in Kafka");
    assert!(
        connectors
            .iter()
            .all(|p| p.kind == "source" || p.kind == "sink")
    );
    let all = connector_plugins(false);
    for kind in [
        "transformation",
        "predicate",
        "converter",
        "header_converter",
    ] {
        assert!(all.iter().any(|p| p.kind == kind), "{kind} missing");
    }
    let json = serde_json::to_string(&connectors[0]).expect("serializes");
    assert!(json.starts_with("{\"class\":"), "{json}");
}

#[test]
fn plugin_config_resolves_aliases_and_adds_framework_keys() {
    let keys = plugin_config("FileStreamSource").expect("known by alias");
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(&names[..3], ["file", "topic", "batch.size"]);
    assert!(names.contains(&"connector.class") && names.contains(&"tasks.max"));
    assert!(!names.contains(&"topics"));
    let sink =
        plugin_config("org.apache.kafka.connect.file.FileStreamSinkConnector").expect("sink");
    assert!(sink.iter().any(|k| k.name == "topics"));
    let router = plugin_config("RegexRouter").expect("transform alias");
    assert!(router.iter().any(|k| k.name == "regex" && k.required));
    assert!(plugin_config("TopicNameMatches").is_some());
    assert!(
        plugin_config("JsonConverter")
            .is_some_and(|k| k.iter().any(|k| k.name == "schemas.enable"))
    );
    assert!(plugin_config("SimpleHeaderConverter").is_some());
    assert!(plugin_config("com.example.Nope").is_none());
}

#[test]
fn a_connectors_own_keys_leave_out_kafka_connects() {
    let config: ConfigMap = [
        ("name", "n"),
        ("connector.class", "x"),
        ("tasks.max", "2"),
        ("topics", "t"),
        ("url", "http://h"),
        ("errors.tolerance", "all"),
        ("errors.deadletterqueue.topic.name", "dlq"),
        (
            "value.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        ),
        ("value.converter.schemas.enable", "false"),
        ("transforms", "a"),
        ("transforms.a.type", "wasm"),
        ("consumer.override.max.poll.records", "10"),
        ("batch.size", "5"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let own = super::connector_own_keys(ConnectorType::Sink, &config);
    assert_eq!(own.keys().collect::<Vec<_>>(), ["batch.size", "url"]);
    let own = super::connector_own_keys(ConnectorType::Source, &config);
    assert_eq!(own.keys().collect::<Vec<_>>(), ["batch.size", "url"]);
}
