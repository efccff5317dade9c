//! `weir plugins list [--all]`: the worker's plugins from `GET /connector-plugins`.

use std::io::Write;

use serde::Deserialize;

use super::connectors::{client, explain, print_json, write_table};
use crate::cli::{PluginsArgs, PluginsCommand};

/// One entry of `GET /connector-plugins` (`version` is omitted when the plugin has none).
#[derive(Debug, Deserialize)]
struct PluginInfo {
    class: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    version: Option<String>,
}

pub fn run(args: &PluginsArgs) -> anyhow::Result<()> {
    let client = client(&args.rest)?;
    let PluginsCommand::List { all } = args.command;
    let path = if all {
        "/connector-plugins?connectorsOnly=false"
    } else {
        "/connector-plugins"
    };
    super::block_on(async {
        let ans = client
            .get(path)
            .await
            .map_err(|e| explain(&client, e.into()))?;
        let mut out = std::io::stdout().lock();
        if args.rest.json {
            return print_json(&mut out, &ans);
        }
        let plugins: Vec<PluginInfo> = ans.json()?;
        let rows: Vec<Vec<String>> = plugins
            .into_iter()
            .map(|p| vec![p.class, p.kind, p.version.unwrap_or_default()])
            .collect();
        write_table(&mut out, &["CLASS", "TYPE", "VERSION"], &rows)?;
        out.flush()?;
        Ok(())
    })
}
