//! The worker's WASM plugins: every `*.wasm` file in the `plugin.path` directories (named by
//! its file stem) and every module a config names by path. Files are compiled once per
//! content (the host caches modules by hash) and checked again by [`Registry::rescan`]: a
//! changed file is reloaded, and the worker restarts the connectors that use it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::SystemTime;

use weir_wasm::{Host, Kind, Plugin};

/// A file's modification time and length: a change of either means it changed.
type Stamp = Option<(SystemTime, u64)>;

/// A file as last seen: its stamp and what loading it gave.
struct Loaded {
    stamp: Stamp,
    result: Result<Arc<Plugin>, String>,
    /// Found in a `plugin.path` directory (listed, usable by name).
    listed: bool,
}

/// The plugins this process knows.
#[derive(Default)]
pub struct Registry {
    dirs: RwLock<Vec<PathBuf>>,
    files: RwLock<BTreeMap<PathBuf, Loaded>>,
}

/// A plugin the listing shows.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub kind: Kind,
    pub version: String,
}

/// What changed in a rescan: the file and the name it is known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub path: PathBuf,
    pub name: String,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// The process's registry.
pub fn global() -> &'static Registry {
    REGISTRY.get_or_init(Registry::default)
}

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The plugin name of a file: its stem.
pub fn name_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn load(path: &Path) -> Result<Arc<Plugin>, String> {
    let name = name_of(path);
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let host = Host::shared().map_err(|e| e.to_string())?;
    host.load(&name, &bytes)
        .map(Arc::new)
        .map_err(|e| format!("{e} ({})", path.display()))
}

impl Registry {
    /// Sets the `plugin.path` directories and loads what they hold.
    pub fn set_dirs(&self, dirs: Vec<PathBuf>) -> Vec<Changed> {
        *self.dirs.write().unwrap_or_else(|p| p.into_inner()) = dirs;
        self.rescan()
    }

    fn dir_files(&self) -> Vec<PathBuf> {
        let dirs = self.dirs.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = Vec::new();
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let path = e.path();
                if path.extension().is_some_and(|x| x == "wasm") && path.is_file() {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }

    /// Looks at every known file and the directories again; (re)loads what changed and
    /// forgets listed files that are gone. Returns what changed.
    pub fn rescan(&self) -> Vec<Changed> {
        let listed = self.dir_files();
        let known: Vec<(PathBuf, Stamp, bool)> = self
            .files
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(p, l)| (p.clone(), l.stamp, l.listed))
            .collect();
        let mut changed = Vec::new();
        let mut updates = Vec::new();
        for path in &listed {
            let now = stamp(path);
            match known.iter().find(|(p, _, _)| p == path) {
                Some((_, before, _)) if *before == now => {}
                _ => updates.push((path.clone(), now, true)),
            }
        }
        for (path, before, was_listed) in &known {
            let in_dir = listed.contains(path);
            if in_dir {
                continue;
            }
            let now = stamp(path);
            if *was_listed && now.is_none() {
                updates.push((path.clone(), None, false));
            } else if now != *before {
                updates.push((path.clone(), now, *was_listed && now.is_some()));
            }
        }
        if updates.is_empty() {
            return changed;
        }
        let mut files = self.files.write().unwrap_or_else(|p| p.into_inner());
        for (path, now, listed) in updates {
            let result = match now {
                Some(_) => load(&path),
                None => Err(format!("{} is gone", path.display())),
            };
            match &result {
                Ok(p) => {
                    tracing::info!(plugin = %p.name, kind = p.kind.name(), version = %p.version(), path = %path.display(), "WASM plugin loaded")
                }
                Err(e) => tracing::warn!(path = %path.display(), "WASM plugin not loaded: {e}"),
            }
            changed.push(Changed {
                name: name_of(&path),
                path: path.clone(),
            });
            files.insert(
                path,
                Loaded {
                    stamp: now,
                    result,
                    listed,
                },
            );
        }
        changed
    }

    /// The plugin called `name` in the `plugin.path` directories: `None` when there is
    /// none, `Some(Err)` when its file does not load.
    pub fn named(&self, name: &str) -> Option<Result<Arc<Plugin>, String>> {
        let files = self.files.read().unwrap_or_else(|p| p.into_inner());
        files
            .iter()
            .find(|(path, l)| l.listed && name_of(path) == name)
            .map(|(_, l)| l.result.clone())
    }

    /// The module at `path` (a config's `module`), loaded and watched from now on.
    pub fn at_path(&self, path: &Path) -> Result<Arc<Plugin>, String> {
        let path = std::fs::canonicalize(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        if let Some(l) = self
            .files
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&path)
            && l.stamp == stamp(&path)
        {
            return l.result.clone();
        }
        let result = load(&path);
        let listed = self.dir_files().contains(&path);
        self.files
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                path.clone(),
                Loaded {
                    stamp: stamp(&path),
                    result: result.clone(),
                    listed,
                },
            );
        result
    }

    /// A plugin by name (from `plugin.path`) or by path (containing `/` or ending `.wasm`).
    pub fn resolve(&self, module: &str) -> Result<Arc<Plugin>, String> {
        let module = module.trim();
        if module.contains('/') || module.ends_with(".wasm") {
            return self.at_path(Path::new(module));
        }
        self.named(module).unwrap_or_else(|| {
            Err(format!(
                "no WASM plugin named {module} in plugin.path (known: {})",
                self.names(None).join(", ")
            ))
        })
    }

    /// Names of the listed plugins that load, of one kind or all.
    pub fn names(&self, kind: Option<Kind>) -> Vec<String> {
        self.listing()
            .into_iter()
            .filter(|l| kind.is_none_or(|k| k == l.kind))
            .map(|l| l.name)
            .collect()
    }

    /// Every listed plugin that loads, sorted by name.
    pub fn listing(&self) -> Vec<Listed> {
        let files = self.files.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<Listed> = files
            .values()
            .filter(|l| l.listed)
            .filter_map(|l| l.result.as_ref().ok())
            .map(|p| Listed {
                name: p.name.clone(),
                kind: p.kind,
                version: p.version(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        out
    }
}
