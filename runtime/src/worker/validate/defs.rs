//! Key definitions as the validator sees them: the framework's keys, the keys a transform
//! or predicate alias adds, and the check of one key's value.

use weir_connect_api::config::{ConfigKey, ConfigValue, Validator};
use weir_connect_api::{ConfigDef, ConfigMap, ConfigType, ConnectorType, Importance};

use super::{
    CONFIG_RELOAD_ACTION, CONNECTOR_CLASS, ConfigKeyInfo, HEADER_CONVERTER, KEY_CONVERTER, NAME,
    PREDICATES, TASKS_MAX, TASKS_MAX_ENFORCE, TOPICS, TOPICS_REGEX, TRANSFORMS, VALUE_CONVERTER,
};
use crate::transforms;

const COMMON_GROUP: &str = "Common";
const TRANSFORMS_GROUP: &str = "Transforms";
const PREDICATES_GROUP: &str = "Predicates";

/// One key as the validator sees it: the API's `ConfigKey` plus what the REST API shows.
#[derive(Debug, Clone)]
pub(super) struct Def {
    pub(super) name: String,
    pub(super) kind: ConfigType,
    pub(super) required: bool,
    pub(super) default: Option<String>,
    pub(super) importance: Importance,
    pub(super) documentation: String,
    pub(super) validator: Option<Validator>,
    pub(super) group: Option<String>,
    pub(super) order: i32,
    pub(super) width: &'static str,
    pub(super) display_name: String,
    pub(super) recommended: Vec<String>,
    /// Checked by the transform chain, which reports its own errors: only shown here.
    pub(super) chain_checked: bool,
}

impl Def {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn framework(
        name: &str,
        kind: ConfigType,
        required: bool,
        default: Option<&str>,
        importance: Importance,
        documentation: &str,
        group: &str,
        order: i32,
        width: &'static str,
        display_name: &str,
    ) -> Self {
        Self {
            name: name.to_string(),
            kind,
            required,
            default: default.map(str::to_string),
            importance,
            documentation: documentation.to_string(),
            validator: None,
            group: Some(group.to_string()),
            order,
            width,
            display_name: display_name.to_string(),
            recommended: Vec::new(),
            chain_checked: false,
        }
    }

    pub(super) fn with_validator(mut self, v: Validator) -> Self {
        self.validator = Some(v);
        self
    }

    /// A plugin's key, under `prefix` (transforms, converters) and in `group`.
    pub(super) fn from_key(k: &ConfigKey, prefix: &str, group: Option<&str>, order: i32) -> Self {
        Self {
            name: format!("{prefix}{}", k.name),
            kind: k.kind,
            required: k.default.is_none(),
            default: k.default.clone(),
            importance: k.importance,
            documentation: k.documentation.clone(),
            validator: k.validator.clone(),
            group: group.map(str::to_string).or_else(|| k.group.clone()),
            order,
            width: "NONE",
            display_name: k.display_name.clone().unwrap_or_else(|| k.name.clone()),
            recommended: Vec::new(),
            chain_checked: false,
        }
    }

    pub(super) fn info(&self) -> ConfigKeyInfo {
        ConfigKeyInfo {
            name: self.name.clone(),
            kind: self.kind.name().to_string(),
            required: self.required,
            default_value: self.default.as_deref().map(|d| shown(self.kind, d)),
            importance: self.importance.name().to_string(),
            documentation: self.documentation.clone(),
            group: self.group.clone(),
            width: self.width.to_string(),
            display_name: self.display_name.clone(),
            dependents: Vec::new(),
            order: self.order,
        }
    }

    /// The value to show and the errors of this key in `config`.
    pub(super) fn check(&self, config: &ConfigMap) -> (Option<String>, Vec<String>) {
        let Some(raw) = config.get(&self.name).or(self.default.as_ref()) else {
            if self.required && !self.chain_checked {
                return (None, vec![missing(&self.name)]);
            }
            return (None, Vec::new());
        };
        if self.chain_checked {
            return (Some(shown(self.kind, raw)), Vec::new());
        }
        // A one-key definition whose default is the raw value parses exactly that value.
        let mut one =
            ConfigDef::new().define(&self.name, self.kind, Some(raw), self.importance, "");
        if let Some(v) = &self.validator {
            one = one.with_validator(v.clone());
        }
        match one.parse(&ConfigMap::new()) {
            Ok(parsed) => (parsed.get(&self.name).map(display), Vec::new()),
            Err(errors) => (None, errors.into_iter().map(|e| e.message).collect()),
        }
    }
}

pub(super) fn missing(key: &str) -> String {
    format!("Missing required configuration \"{key}\" which has no default value.")
}

pub(super) fn invalid(key: &str, value: &str, why: &str) -> String {
    format!("Invalid value {value} for configuration {key}: {why}")
}

/// A raw value as the REST API may show it (never a password).
pub(super) fn shown(kind: ConfigType, raw: &str) -> String {
    match kind {
        ConfigType::Password => "[hidden]".to_string(),
        _ => raw.trim().to_string(),
    }
}

pub(super) fn display(v: &ConfigValue) -> String {
    match v {
        ConfigValue::Boolean(b) => b.to_string(),
        ConfigValue::String(s) | ConfigValue::Class(s) => s.clone(),
        ConfigValue::Int(n) => n.to_string(),
        ConfigValue::Short(n) => n.to_string(),
        ConfigValue::Long(n) => n.to_string(),
        ConfigValue::Double(n) => n.to_string(),
        ConfigValue::List(items) => items.join(","),
        ConfigValue::Password(_) => "[hidden]".to_string(),
    }
}

/// The framework's keys for a connector of `kind` (`None`: the class is unknown).
pub(super) fn framework_defs(kind: Option<ConnectorType>) -> Vec<Def> {
    use ConfigType::{Boolean, Class, Int, List, String as Str};
    use Importance::{High, Low};
    let converter_doc = |what: &str| {
        format!(
            "Converter class between the Connect data model and the bytes of the record {what} \
             in Kafka; overrides the worker's setting. Sub-settings go under this key as a \
             prefix (e.g. `value.converter.schemas.enable`)."
        )
    };
    let mut defs = vec![
        Def::framework(
            NAME,
            Str,
            true,
            None,
            High,
            "Globally unique name to use for this connector.",
            COMMON_GROUP,
            1,
            "MEDIUM",
            "Connector name",
        ),
        Def::framework(
            CONNECTOR_CLASS,
            Str,
            true,
            None,
            High,
            "Name or alias of the class for this connector: the full Java class name \
             (org.apache.kafka.connect.file.FileStreamSinkConnector), its simple name, or the \
             simple name without 'Connector' (FileStreamSink).",
            COMMON_GROUP,
            2,
            "LONG",
            "Connector class",
        ),
        Def::framework(
            TASKS_MAX,
            Int,
            false,
            Some("1"),
            High,
            "Maximum number of tasks to use for this connector.",
            COMMON_GROUP,
            3,
            "SHORT",
            "Tasks max",
        )
        .with_validator(Validator::Range {
            min: Some(1.0),
            max: None,
        }),
        Def::framework(
            TASKS_MAX_ENFORCE,
            Boolean,
            false,
            Some("true"),
            Low,
            "(Deprecated) Whether a connector that generates more task configs than tasks.max \
             fails (true, the default) or runs them all (false).",
            COMMON_GROUP,
            4,
            "SHORT",
            "Enforce tasks max",
        ),
        Def::framework(
            KEY_CONVERTER,
            Class,
            false,
            None,
            Low,
            &converter_doc("keys"),
            COMMON_GROUP,
            5,
            "SHORT",
            "Key converter class",
        ),
        Def::framework(
            VALUE_CONVERTER,
            Class,
            false,
            None,
            Low,
            &converter_doc("values"),
            COMMON_GROUP,
            6,
            "SHORT",
            "Value converter class",
        ),
        Def::framework(
            HEADER_CONVERTER,
            Class,
            false,
            None,
            Low,
            &converter_doc("headers"),
            COMMON_GROUP,
            7,
            "SHORT",
            "Header converter class",
        ),
        Def::framework(
            TRANSFORMS,
            List,
            false,
            Some(""),
            Low,
            "Aliases for the transformations to be applied to records.",
            TRANSFORMS_GROUP,
            8,
            "LONG",
            "Transforms",
        ),
        Def::framework(
            PREDICATES,
            List,
            false,
            Some(""),
            Low,
            "Aliases for the predicates used by transformations.",
            PREDICATES_GROUP,
            9,
            "LONG",
            "Predicates",
        ),
        Def::framework(
            CONFIG_RELOAD_ACTION,
            Str,
            false,
            Some("restart"),
            Low,
            "What the worker does when a config provider reports a changed value: 'restart' \
             restarts the connector with the new config, 'none' does nothing.",
            COMMON_GROUP,
            10,
            "MEDIUM",
            "Reload Action",
        )
        .with_validator(Validator::OneOf(vec!["none".into(), "restart".into()])),
    ];
    for (i, k) in crate::worker::errors::config_def()
        .keys()
        .iter()
        .enumerate()
    {
        let mut d = Def::from_key(k, "", Some(crate::worker::errors::GROUP), i as i32 + 1);
        (d.display_name, d.width) = error_key_display(&k.name);
        defs.push(d);
    }
    if kind == Some(ConnectorType::Sink) {
        defs.push(Def::framework(
            TOPICS,
            List,
            false,
            Some(""),
            High,
            "List of topics to consume, separated by commas.",
            COMMON_GROUP,
            4,
            "LONG",
            "Topics",
        ));
        defs.push(Def::framework(
            TOPICS_REGEX,
            Str,
            false,
            Some(""),
            High,
            "Regular expression giving topics to consume. Only one of topics or topics.regex \
             should be specified.",
            COMMON_GROUP,
            4,
            "LONG",
            "Topics regex",
        ));
    }
    defs
}

/// Kafka's display name and width of an `errors.*` key.
fn error_key_display(key: &str) -> (String, &'static str) {
    let (name, width) = match key {
        "errors.retry.timeout" => ("Retry Timeout for Errors", "MEDIUM"),
        "errors.retry.delay.max.ms" => ("Maximum Delay Between Retries for Errors", "MEDIUM"),
        "errors.tolerance" => ("Error Tolerance", "SHORT"),
        "errors.log.enable" => ("Log Errors", "SHORT"),
        "errors.log.include.messages" => ("Log Error Details", "SHORT"),
        "errors.deadletterqueue.topic.name" => ("Dead Letter Queue Topic Name", "MEDIUM"),
        "errors.deadletterqueue.topic.replication.factor" => {
            ("Dead Letter Queue Topic Replication Factor", "MEDIUM")
        }
        "errors.deadletterqueue.context.headers.enable" => {
            ("Enable Error Context Headers", "MEDIUM")
        }
        other => (other, "NONE"),
    };
    (name.to_string(), width)
}

/// The keys of every alias listed in `transforms` or `predicates` (`list_key`): `type`, for
/// transforms `predicate` and `negate`, and the plugin's own keys once its class resolves.
pub(super) fn alias_defs(config: &ConfigMap, list_key: &str) -> Vec<Def> {
    let transform = list_key == TRANSFORMS;
    let (kind, group_name, known): (&str, &str, Vec<&str>) = if transform {
        (
            "transformation",
            TRANSFORMS_GROUP,
            transforms::TRANSFORMS.iter().map(|(c, _)| *c).collect(),
        )
    } else {
        (
            "predicate",
            PREDICATES_GROUP,
            transforms::PREDICATES.iter().map(|(c, _)| *c).collect(),
        )
    };
    let mut aliases: Vec<&str> = Vec::new();
    for a in config
        .get(list_key)
        .map_or("", String::as_str)
        .split(',')
        .map(str::trim)
    {
        if !a.is_empty() && !aliases.contains(&a) {
            aliases.push(a);
        }
    }
    let mut defs = Vec::new();
    for alias in aliases {
        let prefix = format!("{list_key}.{alias}.");
        let group = format!("{group_name}: {alias}");
        let mut own = Vec::new();
        let mut type_def = Def::framework(
            &format!("{prefix}type"),
            ConfigType::Class,
            true,
            None,
            Importance::High,
            &format!("Class for the '{alias}' {kind}."),
            &group,
            0,
            "LONG",
            &format!(
                "{} type for {alias}",
                if transform {
                    "Transformation"
                } else {
                    "Predicate"
                }
            ),
        );
        type_def.recommended = known.iter().map(|c| c.to_string()).collect();
        own.push(type_def);
        if transform {
            own.push(Def::framework(
                &format!("{prefix}predicate"),
                ConfigType::String,
                false,
                None,
                Importance::Medium,
                "The alias of a predicate used to determine whether to apply this transformation.",
                &group,
                1,
                "NONE",
                "predicate",
            ));
            own.push(Def::framework(
                &format!("{prefix}negate"),
                ConfigType::Boolean,
                false,
                Some("false"),
                Importance::Medium,
                "Whether the configured predicate should be negated.",
                &group,
                2,
                "NONE",
                "negate",
            ));
        }
        let class = config
            .get(&format!("{prefix}type"))
            .map_or("", |c| c.trim());
        let plugin_def = if transform {
            transforms::new_transform(class).map(|t| t.config_def())
        } else {
            transforms::new_predicate(class).map(|p| p.config_def())
        };
        for k in plugin_def.iter().flat_map(|d| d.keys()) {
            if !matches!(k.name.as_str(), "type" | "predicate" | "negate") {
                let order = own.len() as i32;
                own.push(Def::from_key(k, &prefix, Some(&group), order));
            }
        }
        for d in &mut own {
            d.chain_checked = true;
        }
        defs.extend(own);
    }
    defs
}
