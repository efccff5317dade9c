//! Hot reload of WASM plugins: the worker rescans its plugin files every
//! `plugin.reload.interval.ms`; connectors using a changed plugin restart, so their new
//! tasks run the new module.

use tokio::sync::watch;
use weir_connect_api::ConfigMap;

use super::Worker;
use super::model::RestartRequest;

impl Worker {
    /// Restarts (connector and tasks) every connector whose config uses a changed plugin:
    /// as its `connector.class`, a transform's or predicate's `type`, or a `module`.
    async fn restart_users(&self, changed: &[crate::wasm::registry::Changed]) {
        let uses = |config: &ConfigMap| {
            config.iter().any(|(k, v)| {
                let v = v.trim();
                let keyed =
                    k == "connector.class" || k.ends_with(".type") || k.ends_with(".module");
                keyed
                    && changed
                        .iter()
                        .any(|c| v == c.name || std::fs::canonicalize(v).is_ok_and(|p| p == c.path))
            })
        };
        let users: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, e)| uses(&e.config))
            .map(|(n, _)| n.clone())
            .collect();
        for name in users {
            tracing::info!(connector = %name, "a WASM plugin it uses changed; restarting it");
            let request = RestartRequest {
                include_tasks: true,
                only_failed: false,
            };
            if let Err(e) = self.restart_connector(&name, request).await {
                tracing::warn!(connector = %name, error = %e, "cannot restart after a plugin change");
            }
        }
    }
}

/// Checks the plugin files every `interval`; connectors using a changed one restart, so
/// their new tasks run the new module (hot reload).
pub(super) async fn watch_plugins(
    worker: std::sync::Weak<Worker>,
    interval: std::time::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let changed =
            match tokio::task::spawn_blocking(|| crate::wasm::registry::global().rescan()).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "the plugin rescan failed");
                    continue;
                }
            };
        if changed.is_empty() {
            continue;
        }
        let Some(worker) = worker.upgrade() else {
            return;
        };
        worker.restart_users(&changed).await;
    }
}
