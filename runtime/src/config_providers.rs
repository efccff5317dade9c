//! Config providers: `${env:VAR}` and `${file:/path/to/file.properties:key}` placeholders in
//! connector configs, resolved before a connector sees its config (Kafka's
//! `EnvVarConfigProvider` and `FileConfigProvider` with `ConfigTransformer`'s syntax
//! `${provider:[path:]key}`). Stored configs keep the placeholders; resolved values may be
//! secrets, so errors name the config key and the reference, never a value.

use std::collections::BTreeMap;
use std::path::Path;

use weir_connect_api::ConfigMap;
use weir_connect_api::config::{ConfigError, unescape_java};

/// One `${provider:[path:]key}` reference found in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference<'a> {
    whole: &'a str,
    provider: &'a str,
    path: Option<&'a str>,
    key: &'a str,
}

/// Finds every placeholder in `value`, in order.
fn references(value: &str) -> Vec<Reference<'_>> {
    let mut out = Vec::new();
    let mut rest = value;
    let mut base = 0;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let whole = &value[base + start..base + start + len + 1];
        let inner = &whole[2..whole.len() - 1];
        // provider:key or provider:path:key. Kafka's pattern is lazy on the provider and
        // the path, so both end at the first ':' and the key keeps any later ones.
        if let Some((provider, tail)) = inner.split_once(':') {
            let (path, key) = match tail.split_once(':') {
                Some((p, k)) => (Some(p), k),
                None => (None, tail),
            };
            out.push(Reference {
                whole,
                provider,
                path,
                key,
            });
        }
        base += start + len + 1;
        rest = &value[base..];
    }
    out
}

/// Reads a Java `.properties` file: `key=value`, `key: value` or `key value`, `#`/`!`
/// comments, backslash line continuations and the common escapes.
pub fn read_properties(path: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)?;
    let mut out = BTreeMap::new();
    let mut logical = String::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        let continued = line.ends_with('\\') && !line.ends_with("\\\\");
        logical.push_str(if continued {
            &line[..line.len() - 1]
        } else {
            line
        });
        if continued {
            continue;
        }
        let entry = std::mem::take(&mut logical);
        // The key ends at the first unescaped '=', ':' or blank.
        let mut escaped = false;
        let split = entry
            .char_indices()
            .find(|(_, c)| {
                let ends = !escaped && (matches!(c, '=' | ':') || c.is_whitespace());
                escaped = !escaped && *c == '\\';
                ends
            })
            .map_or(entry.len(), |(i, _)| i);
        let key = unescape_java(&entry[..split]);
        let value = entry[split..]
            .trim_start()
            .strip_prefix(['=', ':'])
            .unwrap_or(entry[split..].trim_start())
            .trim_start();
        out.insert(key, unescape_java(value));
    }
    Ok(out)
}

/// Resolves every placeholder of `config`; every unresolvable one is reported.
pub fn resolve(config: &ConfigMap) -> Result<ConfigMap, Vec<ConfigError>> {
    let mut files: BTreeMap<String, Result<BTreeMap<String, String>, String>> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut out = ConfigMap::new();
    for (name, value) in config {
        let mut resolved = value.clone();
        for r in references(value) {
            let found = match (r.provider, r.path) {
                ("env", None | Some("")) => std::env::var(r.key)
                    .map_err(|_| format!("environment variable {} is not set", r.key)),
                ("file", Some(path)) => {
                    let props = files.entry(path.to_string()).or_insert_with(|| {
                        read_properties(Path::new(path)).map_err(|e| e.to_string())
                    });
                    match props {
                        Ok(p) => p
                            .get(r.key)
                            .cloned()
                            .ok_or_else(|| format!("{path} has no key {}", r.key)),
                        Err(e) => Err(format!("cannot read {path}: {e}")),
                    }
                }
                ("file", None) => Err("the file provider needs ${file:<path>:<key>}".to_string()),
                (other, _) => Err(format!(
                    "unknown config provider '{other}' (weir provides 'env' and 'file')"
                )),
            };
            match found {
                Ok(v) => resolved = resolved.replacen(r.whole, &v, 1),
                Err(why) => errors.push(ConfigError::new(
                    name,
                    format!("cannot resolve {} in {name}: {why}", r.whole),
                )),
            }
        }
        out.insert(name.clone(), resolved);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_and_file_references_resolve() {
        let dir = tempfile::tempdir().expect("tempdir");
        let props = dir.path().join("db.properties");
        std::fs::write(
            &props,
            "# credentials\nuser = inventory\npassword=s3cr\\\n  et\npath\\:x: a\\tb\n",
        )
        .expect("write");
        let p = props.to_str().expect("utf8");
        let home = std::env::var("HOME").expect("HOME is set in tests");
        let resolved = resolve(&map(&[
            ("database.user", &format!("${{file:{p}:user}}")),
            ("database.password", &format!("${{file:{p}:password}}")),
            ("odd", &format!("${{file:{p}:path:x}}")),
            ("dir", "${env:HOME}/data"),
            ("plain", "no placeholders"),
        ]))
        .expect("all resolve");
        assert_eq!(resolved["database.user"], "inventory");
        assert_eq!(resolved["database.password"], "s3cret");
        assert_eq!(resolved["odd"], "a\tb");
        assert_eq!(resolved["dir"], format!("{home}/data"));
        assert_eq!(resolved["plain"], "no placeholders");
    }

    #[test]
    fn every_unresolvable_reference_is_named() {
        let errs = resolve(&map(&[
            ("a", "${env:WEIR_SURELY_UNSET_VARIABLE}"),
            ("b", "${vault:secret/x:pw}"),
            ("c", "${file:/nonexistent/weir.properties:pw}"),
        ]))
        .expect_err("three errors");
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 3);
        assert!(
            msgs[0].contains("WEIR_SURELY_UNSET_VARIABLE is not set"),
            "{}",
            msgs[0]
        );
        assert!(
            msgs[1].contains("unknown config provider 'vault'"),
            "{}",
            msgs[1]
        );
        assert!(
            msgs[2].starts_with("cannot resolve ${file:/nonexistent/weir.properties:pw} in c"),
            "{}",
            msgs[2]
        );
    }
}
