//! Contract versions: which `vitals:check` a component was built against, its `describe()` lifted
//! within caps, and the 0.1.0 imports served by the current implementation.
//!
//! The versions differ only in `description` (0.2.0 declares config keys), so `check` is lifted
//! the same way for both, and a 0.1.0 component's `host` and `sql` calls are converted to the
//! current types and answered by the same code.

use wasmtime::component::{ComponentType, HasSelf, Instance, Lift, Linker, types};
use wasmtime::{AsContextMut, Engine};

use super::bindings::v0_1::vitals::check as old;
use super::bindings::vitals::check::{host, sql, types as wit};
use super::bindings::{Plugin, v0_1};
use super::lift::{BoundedList, BoundedStr, LiftCaps};
use super::store::StoreData;

/// At most this many config keys are read from `describe()`; more is refused at load.
pub(crate) const MAX_CONFIG_KEYS: usize = 64;

/// The `vitals:check` version a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contract {
    /// `vitals:check@0.1.0`: no declared config keys.
    V0_1,
    /// `vitals:check@0.2.0`, the current one.
    V0_2,
}

impl Contract {
    /// The package version, e.g. "0.2.0".
    pub(crate) fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        }
    }

    /// The version a component was built against, read from the type `describe` returns
    /// (0.2.0's `description` has a `config` field). `None` when there is no `describe` export
    /// returning a record; instantiation then reports what is missing.
    pub(crate) fn of(engine: &Engine, component: &wasmtime::component::Component) -> Option<Self> {
        let ty = component.component_type();
        let describe = ty.get_export(engine, "describe")?;
        let types::ComponentItem::ComponentFunc(func) = describe.ty else {
            return None;
        };
        let Some(types::Type::Record(record)) = func.results().next() else {
            return None;
        };
        let declares = record.fields().any(|field| field.name == "config");
        Some(if declares {
            Contract::V0_2
        } else {
            Contract::V0_1
        })
    }
}

/// Add the imports of every supported version to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    Plugin::add_to_linker::<_, HasSelf<StoreData>>(linker, |s| s)?;
    v0_1::Plugin::add_to_linker::<_, HasSelf<StoreData>>(linker, |s| s)
}

/// One declared `config-key`.
#[derive(ComponentType, Lift, Debug, Clone)]
#[component(record)]
pub(crate) struct BoundedConfigKey {
    pub(crate) name: BoundedStr,
    pub(crate) required: bool,
    pub(crate) default: Option<BoundedStr>,
    pub(crate) help: BoundedStr,
}

/// 0.2.0's `description`.
#[derive(ComponentType, Lift, Debug, Clone)]
#[component(record)]
struct DescriptionV0_2 {
    name: BoundedStr,
    version: BoundedStr,
    summary: BoundedStr,
    defaults: wit::Defaults,
    config: BoundedList<BoundedConfigKey, MAX_CONFIG_KEYS>,
}

/// 0.1.0's `description`.
#[derive(ComponentType, Lift, Debug, Clone)]
#[component(record)]
struct DescriptionV0_1 {
    name: BoundedStr,
    version: BoundedStr,
    summary: BoundedStr,
    defaults: wit::Defaults,
}

/// What `describe()` returned, in any version.
#[derive(Debug, Clone)]
pub(crate) struct Described {
    pub(crate) name: BoundedStr,
    pub(crate) version: BoundedStr,
    pub(crate) summary: BoundedStr,
    pub(crate) defaults: wit::Defaults,
    /// The declared config keys; `None` for 0.1.0, which cannot declare them.
    pub(crate) config: Option<BoundedList<BoundedConfigKey, MAX_CONFIG_KEYS>>,
}

impl Described {
    /// Described strings end up in logs and API responses: the longest kept is a summary's.
    pub(crate) const CAPS: LiftCaps = LiftCaps {
        text: 512,
        details: 0,
    };
}

/// Call `describe` as `contract` types it.
pub(crate) async fn describe(
    contract: Contract,
    instance: &Instance,
    mut store: impl AsContextMut<Data = StoreData>,
) -> wasmtime::Result<Described> {
    Ok(match contract {
        Contract::V0_2 => {
            let func = instance.get_typed_func::<(), (DescriptionV0_2,)>(&mut store, "describe")?;
            let (d,) = func.call_async(&mut store, ()).await?;
            Described {
                name: d.name,
                version: d.version,
                summary: d.summary,
                defaults: d.defaults,
                config: Some(d.config),
            }
        }
        Contract::V0_1 => {
            let func = instance.get_typed_func::<(), (DescriptionV0_1,)>(&mut store, "describe")?;
            let (d,) = func.call_async(&mut store, ()).await?;
            Described {
                name: d.name,
                version: d.version,
                summary: d.summary,
                defaults: d.defaults,
                config: None,
            }
        }
    })
}

impl old::types::Host for StoreData {}

impl old::host::Host for StoreData {
    async fn log(&mut self, level: old::host::Level, message: String) {
        let level = match level {
            old::host::Level::Trace => host::Level::Trace,
            old::host::Level::Debug => host::Level::Debug,
            old::host::Level::Info => host::Level::Info,
            old::host::Level::Warn => host::Level::Warn,
            old::host::Level::Error => host::Level::Error,
        };
        host::Host::log(self, level, message).await;
    }

    async fn config_get(&mut self, key: String) -> Option<String> {
        host::Host::config_get(self, key).await
    }

    async fn config_keys(&mut self) -> Vec<String> {
        host::Host::config_keys(self).await
    }
}

impl old::sql::Host for StoreData {
    async fn query(
        &mut self,
        datasource: String,
        statement: String,
        params: Vec<old::sql::Value>,
    ) -> Result<old::sql::Rows, old::sql::Error> {
        let params = params.into_iter().map(value_in).collect();
        match sql::Host::query(self, datasource, statement, params).await {
            Ok(rows) => Ok(old::sql::Rows {
                columns: rows.columns,
                rows: rows
                    .rows
                    .into_iter()
                    .map(|row| row.into_iter().map(value_out).collect())
                    .collect(),
            }),
            Err(error) => Err(error_out(error)),
        }
    }
}

fn value_in(value: old::sql::Value) -> sql::Value {
    use old::sql::Value as V;
    match value {
        V::Null => sql::Value::Null,
        V::Boolean(b) => sql::Value::Boolean(b),
        V::Int(i) => sql::Value::Int(i),
        V::Float(f) => sql::Value::Float(f),
        V::Text(t) => sql::Value::Text(t),
    }
}

fn value_out(value: sql::Value) -> old::sql::Value {
    use old::sql::Value as V;
    match value {
        sql::Value::Null => V::Null,
        sql::Value::Boolean(b) => V::Boolean(b),
        sql::Value::Int(i) => V::Int(i),
        sql::Value::Float(f) => V::Float(f),
        sql::Value::Text(t) => V::Text(t),
    }
}

fn error_out(error: sql::Error) -> old::sql::Error {
    use old::sql::Error as E;
    match error {
        sql::Error::NotGranted(m) => E::NotGranted(m),
        sql::Error::NotReadOnly(m) => E::NotReadOnly(m),
        sql::Error::Timeout => E::Timeout,
        sql::Error::TooManyRows(n) => E::TooManyRows(n),
        sql::Error::Query(m) => E::Query(m),
    }
}
