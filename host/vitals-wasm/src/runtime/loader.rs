//! Loading a plugin: read, compile (through the cache, off the async runtime), check it
//! implements the world, and describe it once in a sandbox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use wasmtime::component::{Component, InstancePre};

use crate::PluginError;
use crate::capabilities::context::PluginContext;
use crate::capabilities::grants::PluginGrants;
use crate::runtime::bindings::{PluginPre, v0_1};
use crate::runtime::contract::{Contract, Described};
use crate::runtime::declared::{self, ConfigKey};
use crate::runtime::engine::{PluginRuntime, VersionCount};
use crate::runtime::sandbox::{Call, Returned, run_call};
use crate::runtime::store::StoreData;

/// Settings a plugin suggests; the operator's config overrides each of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SuggestedDefaults {
    /// Time between runs.
    #[serde(with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// Limit per run.
    #[serde(with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Whether failing fails readiness.
    pub critical: Option<bool>,
}

/// What a plugin says about itself (`describe()`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Description {
    /// Short identifier, e.g. "http-endpoint".
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// What it checks, in one sentence.
    pub summary: String,
    /// Suggested settings.
    pub defaults: SuggestedDefaults,
    /// The `vitals:check` version it was built against, e.g. "0.2.0".
    pub contract: &'static str,
    /// The config keys it reads. `None` for a 0.1.0 component, which cannot declare them: any
    /// key is then accepted.
    pub config: Option<Vec<ConfigKey>>,
}

impl Description {
    fn from_described(d: Described, contract: Contract) -> Result<Self, String> {
        // Described strings end up in logs and API responses: keep them short.
        Ok(Description {
            name: d.name.truncated(128),
            version: d.version.truncated(64),
            summary: d.summary.truncated(512),
            defaults: SuggestedDefaults {
                interval: d.defaults.interval_ms.map(Duration::from_millis),
                timeout: d.defaults.timeout_ms.map(Duration::from_millis),
                critical: d.defaults.critical,
            },
            contract: contract.version(),
            config: d.config.map(declared::declared_keys).transpose()?,
        })
    }

    /// The config `given` resolves to for this plugin: checked against the declared keys, with
    /// declared defaults filled in (unchanged for a 0.1.0 plugin).
    pub fn resolve_config(
        &self,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String> {
        match &self.config {
            Some(declared) => declared::resolve(declared, given),
            None => Ok(given.clone()),
        }
    }
}

pub(crate) struct LoadedInner {
    pub(crate) pre: InstancePre<StoreData>,
    pub(crate) component: Arc<Component>,
    pub(crate) description: Description,
    pub(crate) sha256: String,
    pub(crate) file: PathBuf,
    pub(crate) loaded_at: SystemTime,
    pub(crate) grants: PluginGrants,
    _alive: VersionCount,
}

/// A compiled, validated and described plugin, ready to run. Cheap to clone.
#[derive(Clone)]
pub struct LoadedPlugin {
    pub(crate) inner: Arc<LoadedInner>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("file", &self.inner.file)
            .field("sha256", &self.inner.sha256)
            .field("description", &self.inner.description)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// What the plugin said about itself.
    pub fn description(&self) -> &Description {
        &self.inner.description
    }

    /// sha256 of the `.wasm` file (hex).
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// The file it was loaded from.
    pub fn file(&self) -> &Path {
        &self.inner.file
    }

    /// When it was loaded.
    pub fn loaded_at(&self) -> SystemTime {
        self.inner.loaded_at
    }

    /// The grants it was loaded with.
    pub fn grants(&self) -> &PluginGrants {
        &self.inner.grants
    }

    /// The compiled component (for inspection).
    pub fn component(&self) -> &Component {
        &self.inner.component
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

impl PluginRuntime {
    /// The sha256 of the file at `path`, if it is a file within `plugins.max_file_size`: hashed
    /// on a blocking thread, streaming, so a huge file costs neither memory nor the caller's
    /// runtime.
    pub(crate) async fn file_sha256(&self, path: &Path) -> Option<String> {
        let meta = tokio::fs::metadata(path).await.ok()?;
        if !meta.is_file() || meta.len() > self.inner.config.max_file_size.bytes() {
            return None;
        }
        let runtime = self.inner.clone();
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || runtime.cache.hash_file(&path, &meta).ok())
            .await
            .ok()
            .flatten()
    }

    /// Read, compile (cached), validate and describe the plugin at `path`, and check the config
    /// in `grants` against the keys it declares (filling in their defaults).
    pub async fn load(
        &self,
        path: &Path,
        grants: PluginGrants,
    ) -> Result<LoadedPlugin, PluginError> {
        self.load_with(path, grants, true).await
    }

    /// Like [`load`](Self::load), without the config check: to show what a plugin declares
    /// before it is configured (`vitals plugin inspect`).
    pub async fn inspect(&self, path: &Path) -> Result<LoadedPlugin, PluginError> {
        self.load_with(path, PluginGrants::default(), false).await
    }

    async fn load_with(
        &self,
        path: &Path,
        mut grants: PluginGrants,
        check_config: bool,
    ) -> Result<LoadedPlugin, PluginError> {
        let file = path.to_path_buf();
        let read_err = |error| PluginError::Read {
            file: file.clone(),
            error,
        };
        let meta = tokio::fs::metadata(path).await.map_err(read_err)?;
        let size = meta.len();
        let limit = self.inner.config.max_file_size.bytes();
        if size > limit {
            return Err(PluginError::TooLarge { file, size, limit });
        }
        let name = file_stem(path);
        let http_rules = grants.http_rules(&name)?;

        let runtime = self.inner.clone();
        let blocking_path = file.clone();
        let (sha256, compiled) = tokio::task::spawn_blocking(move || {
            runtime
                .cache
                .load_file(&runtime.engine, &blocking_path, &meta, limit)
        })
        .await
        .map_err(|e| PluginError::Runtime(format!("compile task failed: {e}")))?
        .map_err(read_err)?;
        let component = compiled.map_err(|message| PluginError::Compile {
            file: file.clone(),
            message,
        })?;

        let wrong_world = |e: wasmtime::Error| PluginError::WrongWorld {
            file: file.clone(),
            message: format!("{e:#}"),
        };
        let instance_pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        // Both versions export `describe` and `check`; the type of what `describe` returns
        // tells them apart, and each version's bindings then check the whole world.
        let contract = Contract::of(&self.inner.engine, &component).unwrap_or(Contract::V0_2);
        let pre = match contract {
            Contract::V0_2 => PluginPre::new(instance_pre)
                .map_err(wrong_world)?
                .instance_pre()
                .clone(),
            Contract::V0_1 => v0_1::PluginPre::new(instance_pre)
                .map_err(wrong_world)?
                .instance_pre()
                .clone(),
        };

        let context = Arc::new(PluginContext::new(
            name,
            String::new(),
            grants.clone(),
            http_rules,
            self.inner.datasources.clone(),
            Arc::default(),
            // describe() runs once: its drops are reported when it returns.
            Duration::ZERO,
        ));
        let limits = self.inner.config.describe_limits;
        let report = run_call(
            &self.inner.engine,
            &pre,
            &context,
            &limits,
            Call::Describe(contract),
        )
        .await;
        let description = match report.result {
            Ok(Returned::Described(d)) => {
                Description::from_described(d, contract).map_err(|reason| {
                    PluginError::Describe {
                        file: file.clone(),
                        reason,
                    }
                })?
            }
            Ok(Returned::Checked(_)) => {
                return Err(PluginError::Runtime(
                    "describe() returned a check result".to_owned(),
                ));
            }
            Err(reason) => {
                return Err(PluginError::Describe {
                    file,
                    reason: reason.to_string(),
                });
            }
        };
        if check_config {
            grants.config = description
                .resolve_config(&grants.config)
                .map_err(|message| PluginError::Config {
                    file: file.clone(),
                    message,
                })?;
        }
        tracing::info!(
            plugin = description.name.as_str(),
            version = description.version.as_str(),
            file = %file.display(),
            "loaded plugin (vitals:check/plugin@{})",
            description.contract
        );
        Ok(LoadedPlugin {
            inner: Arc::new(LoadedInner {
                pre,
                component,
                description,
                sha256,
                file,
                loaded_at: SystemTime::now(),
                grants,
                _alive: VersionCount::new(&self.inner.versions),
            }),
        })
    }
}
