//! What each watch last said, to tell the changes that matter from churn.

use std::collections::HashMap;

use kube::api::DynamicObject;
use kube::runtime::watcher;
use registry_core::kubernetes::{Kind, Part};

use crate::kubernetes::derive::Object;

#[derive(Default)]
pub struct Tracker {
    objects: HashMap<(Kind, String, String), Object>,
    /// The objects of a relist in progress, per watch.
    relisting: HashMap<usize, Vec<Object>>,
}

/// What an event was, for the watcher state; `changed` when a discovery could now derive something else.
pub struct Seen {
    pub event: String,
    pub changed: bool,
}

impl Tracker {
    pub fn apply(&mut self, index: usize, part: &Part, event: watcher::Event<DynamicObject>) -> Seen {
        match event {
            watcher::Event::Init => {
                self.relisting.insert(index, Vec::new());
                Seen { event: format!("relisting {part}"), changed: false }
            }
            watcher::Event::InitApply(object) => {
                let object = Object::from_dynamic(part.kind, &object);
                let event = format!("listed {}", object.label());
                self.relisting.entry(index).or_default().push(object);
                Seen { event, changed: false }
            }
            watcher::Event::InitDone => {
                // A relist that saw no object leaves none.
                let listed = self.relisting.remove(&index).unwrap_or_default();
                self.objects.retain(|(kind, namespace, _), _| !part.holds(Some(*kind), namespace));
                for object in listed {
                    self.objects.insert(key(&object), object);
                }
                // Anything not listed again is gone, without a delete event: only a discovery can tell.
                Seen { event: format!("relisted {part}"), changed: true }
            }
            watcher::Event::Apply(object) => {
                let object = Object::from_dynamic(part.kind, &object);
                let event = format!("applied {}", object.label());
                let old = self.objects.insert(key(&object), object.clone());
                let changed = old.as_ref() != Some(&object)
                    && (object.is_exported() || old.as_ref().is_some_and(Object::is_exported));
                Seen { event, changed }
            }
            watcher::Event::Delete(object) => {
                let object = Object::from_dynamic(part.kind, &object);
                let old = self.objects.remove(&key(&object));
                Seen {
                    event: format!("deleted {}", object.label()),
                    changed: old.as_ref().is_some_and(Object::is_exported),
                }
            }
        }
    }
}

fn key(object: &Object) -> (Kind, String, String) {
    (object.kind, object.namespace.clone(), object.name.clone())
}
