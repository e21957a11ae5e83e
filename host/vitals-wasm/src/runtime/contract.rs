//! Contract versions: which `vitals:check` a component was built against, and its `describe()`
//! lifted within caps.
//!
//! The versions differ only in `description` (0.2.0 declares config keys), so `check` is lifted
//! the same way for both. A 0.1.0 component's `host` and `sql` imports are linked by those
//! capabilities (`capabilities/host.rs`, `capabilities/sql.rs`), converted to the current types
//! and answered by the same code.

use wasmtime::component::{ComponentType, Instance, Lift, types};
use wasmtime::{AsContextMut, Engine};

use crate::runtime::bindings::vitals::check::types as wit;
use crate::runtime::lift::{BoundedList, BoundedStr, LiftCaps};
use crate::runtime::store::StoreData;

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
