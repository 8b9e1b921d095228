//! Reading a registry file entry by entry. The document is walked with serde's visitors straight from a
//! reader: only the entry being read is ever held as a JSON tree, and each one goes to the caller before the
//! next is read, so a file of any size is read in the memory of its largest entry. The shapes and the error
//! locations are those of [`super::parse`], which collects this stream.

use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::toolhive::{self, Kind};
use super::{Entry, Format, FormatError, api_entry};
use crate::model::server_json::ServerJson;

/// Why a stream stopped early: the data, or the caller's own error.
#[derive(Debug)]
pub enum Stopped<E> {
    Format(FormatError),
    Caller(E),
}

/// Reads `reader` as a registry file in `format`, handing each entry to `each` in document order. The first
/// error, of the data or of `each`, ends the read.
pub fn parse_stream<R: Read, E>(
    format: Format,
    reader: R,
    mut each: impl FnMut(Entry) -> Result<(), E>,
) -> Result<(), Stopped<E>> {
    let mut walk = Walk { each: &mut each, stopped: None, data: false, servers: false, named: 0 };
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let read = match format {
        Format::Upstream => UpstreamTop(&mut walk).deserialize(&mut deserializer),
        Format::Toolhive => ToolhiveTop(&mut walk).deserialize(&mut deserializer),
    }
    .and_then(|()| deserializer.end());
    match (read, walk.stopped.take()) {
        (_, Some(stopped)) => Err(stopped),
        (Err(error), None) if error.is_data() => Err(Stopped::Format(FormatError::Data(error))),
        (Err(error), None) if error.is_io() => Err(Stopped::Format(FormatError::Read(error))),
        (Err(error), None) => Err(Stopped::Format(FormatError::Json(error))),
        (Ok(()), None) => walk.finish(format).map_err(Stopped::Format),
    }
}

/// The walk's state: the caller, the error that stopped it (serde carries only a message), and what the
/// top level held.
struct Walk<'f, E> {
    each: &'f mut dyn FnMut(Entry) -> Result<(), E>,
    stopped: Option<Stopped<E>>,
    /// An upstream file held its entries as the wrapper's `data.servers` or as a bare array; a ToolHive
    /// catalogue held a `data` key (the upstream wrapper's).
    data: bool,
    /// An upstream file held an API list response's `servers`.
    servers: bool,
    /// ToolHive entries read.
    named: usize,
}

impl<E> Walk<'_, E> {
    /// Stops the walk with `stopped`; the returned serde error only unwinds it.
    fn stop<D: de::Error>(&mut self, stopped: Stopped<E>) -> D {
        self.stopped = Some(stopped);
        D::custom("stopped")
    }

    fn shape<D: de::Error>(&mut self, message: impl Into<String>) -> D {
        self.stop(Stopped::Format(FormatError::Shape(message.into())))
    }

    fn emit<D: de::Error>(&mut self, entry: Result<Entry, FormatError>) -> Result<(), D> {
        match entry {
            Ok(entry) => (self.each)(entry).map_err(|e| self.stop(Stopped::Caller(e))),
            Err(error) => Err(self.stop(Stopped::Format(error))),
        }
    }

    /// The checks that need the whole top level.
    fn finish(&self, format: Format) -> Result<(), FormatError> {
        match format {
            Format::Upstream if !self.data && !self.servers => Err(FormatError::Shape(
                "expected the upstream wrapper {data: {servers: [...]}}, an array of server.json, \
                 or an API list response {servers: [{server, _meta}]}"
                    .into(),
            )),
            Format::Toolhive if self.named == 0 && self.data => Err(FormatError::Shape(
                "no servers or remote_servers: this looks like the upstream format; set the registry's format \
                 to upstream"
                    .into(),
            )),
            _ => Ok(()),
        }
    }
}

/// How the items of one array become entries.
#[derive(Clone, Copy)]
enum Items {
    /// server.json documents, located as `{prefix}[i]`.
    Plain(&'static str),
    /// `{server, _meta}` items of an API list response.
    Listed,
}

/// An array of entries, handed over one by one.
struct EntryArray<'w, 'f, E>(&'w mut Walk<'f, E>, Items);

impl<'de, E> DeserializeSeed<'de> for EntryArray<'_, '_, E> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, E> Visitor<'de> for EntryArray<'_, '_, E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.1 {
            Items::Plain(_) => "an array of server.json",
            Items::Listed => "an array of {server, _meta}",
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Self(walk, items) = self;
        let mut i = 0;
        while let Some(value) = seq.next_element::<Value>()? {
            let entry = match items {
                Items::Plain(prefix) => ServerJson::from_value(value)
                    .map(|server| Entry { server, origin: None })
                    .map_err(|source| FormatError::Entry { location: format!("{prefix}[{i}]"), source }),
                Items::Listed => {
                    api_entry(value).map_err(|reason| FormatError::Shape(format!("servers[{i}]: {reason}")))
                }
            };
            walk.emit(entry)?;
            i += 1;
        }
        Ok(())
    }
}

/// The top level of an upstream file: a bare array, the wrapper, or an API list response.
struct UpstreamTop<'w, 'f, E>(&'w mut Walk<'f, E>);

impl<'de, E> DeserializeSeed<'de> for UpstreamTop<'_, '_, E> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, E> Visitor<'de> for UpstreamTop<'_, '_, E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object or array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.0.data = true;
        EntryArray(self.0, Items::Plain("")).visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let walk = self.0;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "data" => map.next_value_seed(Data(walk))?,
                "servers" if walk.data => return Err(walk.shape("both data.servers and servers: keep one")),
                "servers" => {
                    walk.servers = true;
                    map.next_value_seed(ListedServers(walk))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The wrapper's `data`: an object whose `servers` is the array of server.json.
struct Data<'w, 'f, E>(&'w mut Walk<'f, E>);

impl<'de, E> DeserializeSeed<'de> for Data<'_, '_, E> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, E> Visitor<'de> for Data<'_, '_, E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the wrapper's data object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let walk = self.0;
        if walk.servers {
            return Err(walk.shape("both data.servers and servers: keep one"));
        }
        walk.data = true;
        let mut servers = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "servers" && !servers {
                servers = true;
                map.next_value_seed(EntryArray(walk, Items::Plain("data.servers")))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if servers { Ok(()) } else { Err(walk.shape("data.servers: expected an array of server.json")) }
    }
}

/// An API list response's `servers`: an array of `{server, _meta}`. An object keyed by name is the ToolHive
/// format.
struct ListedServers<'w, 'f, E>(&'w mut Walk<'f, E>);

impl<'de, E> DeserializeSeed<'de> for ListedServers<'_, '_, E> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, E> Visitor<'de> for ListedServers<'_, '_, E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of {server, _meta}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        EntryArray(self.0, Items::Listed).visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.0.shape(
            "servers is an object keyed by name: this looks like the ToolHive legacy format; \
             set the registry's format to toolhive",
        ))
    }
}

/// The top level of a ToolHive catalogue.
struct ToolhiveTop<'w, 'f, E>(&'w mut Walk<'f, E>);

impl<'de, E> DeserializeSeed<'de> for ToolhiveTop<'_, '_, E> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, E> Visitor<'de> for ToolhiveTop<'_, '_, E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a ToolHive registry object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let walk = self.0;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "servers" => map.next_value_seed(Named(walk, "servers", Kind::Image))?,
                "remote_servers" => map.next_value_seed(Named(walk, "remote_servers", Kind::Remote))?,
                other => {
                    walk.data |= other == "data";
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// `servers` or `remote_servers` of a ToolHive catalogue: an object keyed by server name, or null.
struct Named<'w, 'f, E>(&'w mut Walk<'f, E>, &'static str, Kind);

impl<'de, E> DeserializeSeed<'de> for Named<'_, '_, E> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, E> Visitor<'de> for Named<'_, '_, E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object keyed by server name, or null")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Self(walk, section, kind) = self;
        while let Some(name) = map.next_key::<String>()? {
            let value: Value = map.next_value()?;
            let entry = toolhive::convert_entry(&name, kind, value)
                .map_err(|reason| FormatError::Shape(format!("{section}[{name:?}]: {reason}")));
            walk.named += 1;
            walk.emit(entry)?;
        }
        Ok(())
    }

    fn visit_unit<D: de::Error>(self) -> Result<(), D> {
        Ok(())
    }
}
