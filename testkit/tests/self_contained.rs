//! The repository's tests need nothing outside it: no test source, fixture or script names the team's
//! reference folder beside the checkout, except the one helper through which the optional comparisons go
//! (`testkit/spec/src/reference.rs`).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file under `dir`, skipping build output and version control.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "target" | ".git" | "node_modules") {
                walk(&path, found);
            }
        } else {
            found.push(path);
        }
    }
}

/// Whether a line reaches outside the repository: from a crate's folder, `../../shared` is beside the
/// checkout; from the root (where scripts run), `../shared` is; and the team folder's own parts by name.
fn reaches_outside(line: &str, from_root: bool) -> bool {
    const PARTS: [&str; 7] = [
        "../../shared",
        "shared/reference",
        "shared/notes",
        "shared/tools",
        "shared/DESIGN",
        "shared/HOUSE_STYLE",
        "shared/TOOLCHAIN",
    ];
    PARTS.iter().any(|part| line.contains(part)) || (from_root && line.contains("../shared"))
}

#[test]
fn no_test_source_fixture_or_script_names_a_folder_outside_the_repository() {
    let root = root();
    let mut files = Vec::new();
    walk(&root, &mut files);
    // The helper, and this file, which names what it looks for.
    let allowed = [root.join("testkit/spec/src/reference.rs"), root.join("testkit/tests/self_contained.rs")];
    let mut checked = 0;
    let mut found = Vec::new();
    for path in files.iter().filter(|path| !allowed.contains(path)) {
        let relative = path.strip_prefix(&root).unwrap_or(path);
        let is_script = relative.starts_with("scripts") || relative.starts_with(".ci");
        let is_code =
            path.extension().is_some_and(|ext| matches!(ext.to_str(), Some("rs" | "toml" | "json" | "yaml")));
        if !is_script && !is_code {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(path) else { continue };
        checked += 1;
        for (number, line) in text.lines().enumerate() {
            if reaches_outside(line, is_script) {
                found.push(format!("{}:{}: {}", relative.display(), number + 1, line.trim()));
            }
        }
    }

    assert!(checked > 100, "only {checked} files were read");
    assert!(found.is_empty(), "these name a folder outside the repository:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_each_way_out() {
    assert!(reaches_outside(r#"join("../../shared/reference")"#, false));
    assert!(reaches_outside("cat ../shared/notes/auth.md", true));
    assert!(reaches_outside("see shared/TOOLCHAIN.md", false));
    assert!(
        !reaches_outside(r#"join("../shared/core/src/lib.rs")"#, false),
        "the shared crates beside a crate"
    );
}
