//! The Debezium settings that shape schemas and values.

use weir_connect_api::ConfigMap;

use super::SchemaError;

/// `decimal.handling.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecimalMode {
    /// Connect `Decimal` (or `VariableScaleDecimal` for numeric without scale).
    #[default]
    Precise,
    Double,
    String,
}

/// `time.precision.mode` (`isostring`, `microseconds` and `nanoseconds` are Debezium 3.5's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimePrecisionMode {
    #[default]
    Adaptive,
    AdaptiveTimeMicroseconds,
    Connect,
    IsoString,
    Microseconds,
    Nanoseconds,
}

/// `binary.handling.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BinaryMode {
    #[default]
    Bytes,
    Base64,
    Base64UrlSafe,
    Hex,
}

/// `interval.handling.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntervalMode {
    #[default]
    Numeric,
    String,
}

/// `hstore.handling.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HstoreMode {
    #[default]
    Json,
    Map,
}

/// Everything that changes how a column maps to a Connect schema and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueOptions {
    pub decimal_handling: DecimalMode,
    pub time_precision: TimePrecisionMode,
    pub binary_handling: BinaryMode,
    pub interval_handling: IntervalMode,
    pub hstore_handling: HstoreMode,
    /// `money.fraction.digits`: the scale of MONEY decimals.
    pub money_fraction_digits: u32,
    /// `include.unknown.datatypes`: unknown types become bytes (else they are dropped).
    pub include_unknown_datatypes: bool,
    /// `unavailable.value.placeholder`: the TOAST placeholder (`hex:` prefix for raw bytes
    /// is already decoded here; see [`ValueOptions::placeholder_bytes`]).
    pub unavailable_value_placeholder: String,
}

impl Default for ValueOptions {
    fn default() -> Self {
        Self {
            decimal_handling: DecimalMode::Precise,
            time_precision: TimePrecisionMode::Adaptive,
            binary_handling: BinaryMode::Bytes,
            interval_handling: IntervalMode::Numeric,
            hstore_handling: HstoreMode::Json,
            money_fraction_digits: 2,
            include_unknown_datatypes: false,
            unavailable_value_placeholder: "__debezium_unavailable_value".into(),
        }
    }
}

fn pick<T: Copy>(
    cfg: &ConfigMap,
    key: &str,
    default: T,
    choices: &[(&str, T)],
    errors: &mut Vec<SchemaError>,
) -> T {
    let Some(raw) = cfg.get(key) else {
        return default;
    };
    let wanted = raw.trim();
    match choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
    {
        Some((_, v)) => *v,
        None => {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            errors.push(SchemaError::Config {
                key: key.to_string(),
                message: format!("{raw:?} is not one of {}", names.join(", ")),
            });
            default
        }
    }
}

impl ValueOptions {
    /// Reads the options from a Debezium connector config; unset keys keep Debezium's
    /// defaults. Returns every invalid key at once.
    pub fn from_config(cfg: &ConfigMap) -> Result<Self, Vec<SchemaError>> {
        let mut errors = Vec::new();
        let d = ValueOptions::default();
        let decimal_handling = pick(
            cfg,
            "decimal.handling.mode",
            d.decimal_handling,
            &[
                ("precise", DecimalMode::Precise),
                ("double", DecimalMode::Double),
                ("string", DecimalMode::String),
            ],
            &mut errors,
        );
        let time_precision = pick(
            cfg,
            "time.precision.mode",
            d.time_precision,
            &[
                ("adaptive", TimePrecisionMode::Adaptive),
                (
                    "adaptive_time_microseconds",
                    TimePrecisionMode::AdaptiveTimeMicroseconds,
                ),
                ("connect", TimePrecisionMode::Connect),
                ("isostring", TimePrecisionMode::IsoString),
                ("microseconds", TimePrecisionMode::Microseconds),
                ("nanoseconds", TimePrecisionMode::Nanoseconds),
            ],
            &mut errors,
        );
        let binary_handling = pick(
            cfg,
            "binary.handling.mode",
            d.binary_handling,
            &[
                ("bytes", BinaryMode::Bytes),
                ("base64", BinaryMode::Base64),
                ("base64-url-safe", BinaryMode::Base64UrlSafe),
                ("hex", BinaryMode::Hex),
            ],
            &mut errors,
        );
        let interval_handling = pick(
            cfg,
            "interval.handling.mode",
            d.interval_handling,
            &[
                ("numeric", IntervalMode::Numeric),
                ("string", IntervalMode::String),
            ],
            &mut errors,
        );
        let hstore_handling = pick(
            cfg,
            "hstore.handling.mode",
            d.hstore_handling,
            &[("json", HstoreMode::Json), ("map", HstoreMode::Map)],
            &mut errors,
        );
        let money_fraction_digits = match cfg.get("money.fraction.digits") {
            None => d.money_fraction_digits,
            Some(raw) => match raw.trim().parse::<u32>() {
                Ok(n) if n <= 1000 => n,
                _ => {
                    errors.push(SchemaError::Config {
                        key: "money.fraction.digits".into(),
                        message: format!("{raw:?} is not a number of digits between 0 and 1000"),
                    });
                    d.money_fraction_digits
                }
            },
        };
        let include_unknown_datatypes = match cfg.get("include.unknown.datatypes") {
            None => false,
            Some(raw) => match raw.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    errors.push(SchemaError::Config {
                        key: "include.unknown.datatypes".into(),
                        message: format!("{raw:?} is not true or false"),
                    });
                    false
                }
            },
        };
        let unavailable_value_placeholder = cfg
            .get("unavailable.value.placeholder")
            .cloned()
            .unwrap_or(d.unavailable_value_placeholder);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            decimal_handling,
            time_precision,
            binary_handling,
            interval_handling,
            hstore_handling,
            money_fraction_digits,
            include_unknown_datatypes,
            unavailable_value_placeholder,
        })
    }

    /// The placeholder's bytes: a `hex:` prefix means the rest is hex (Debezium's
    /// `getUnavailableValuePlaceholder`), else its UTF-8 bytes.
    pub fn placeholder_bytes(&self) -> Vec<u8> {
        let p = &self.unavailable_value_placeholder;
        if let Some(bytes) = p.strip_prefix("hex:").and_then(super::convert::decode_hex) {
            return bytes;
        }
        p.as_bytes().to_vec()
    }

    /// The placeholder as a string (the bytes read as UTF-8, lossily).
    pub fn placeholder_string(&self) -> String {
        String::from_utf8_lossy(&self.placeholder_bytes()).into_owned()
    }
}
