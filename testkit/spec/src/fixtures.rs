//! The project's own test data under `testkit/fixtures/`, written here: server.json documents that together use
//! every field of the official schema, a ToolHive-format catalogue with every field of that format,
//! configurations in ToolHive Registry Server v0.4.9's shape, and the API's response shapes.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The fixture folder, `testkit/fixtures`.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files of a fixture folder with an extension, in name order.
pub fn files(folder: &str, extension: &str) -> Vec<PathBuf> {
    files_in(&dir().join(folder), extension)
}

/// The files of any folder with an extension, in name order.
pub fn files_in(folder: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.unwrap_or_else(|e| panic!("{}: {e}", folder.display())).path())
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .collect();
    files.sort();
    files
}

/// The server.json documents (`fixtures/server-json`), by file name.
pub fn server_json() -> Vec<(String, Value)> {
    files("server-json", "json")
        .iter()
        // A listed file always has a name.
        .map(|path| (path.file_name().unwrap_or_default().to_string_lossy().into_owned(), read_json(path)))
        .collect()
}

/// The ToolHive-format catalogue that uses every field of the format.
pub fn toolhive_catalogue() -> PathBuf {
    dir().join("toolhive/catalogue.json")
}

/// The configurations in ToolHive Registry Server v0.4.9's shape.
pub fn toolhive_v049_configs() -> Vec<PathBuf> {
    files("toolhive-v049-configs", "yaml")
}
