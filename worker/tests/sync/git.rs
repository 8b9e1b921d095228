//! Git sources against real repositories: a bare repository made here with branches, a tag and commits.

use std::path::{Path, PathBuf};
use std::process::Command;

use registry_runtime::config::{GitRef, GitSource, Source};
use registry_testkit::*;
use registry_worker::sync::{SyncOutcome, sync_registry};
use serde_json::json;

use super::*;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn commit_servers(work: &Path, names: &[&str], message: &str) -> String {
    let servers: Vec<_> =
        names.iter().map(|n| json!({"name": n, "description": "d", "version": "1.0.0"})).collect();
    std::fs::create_dir_all(work.join("catalogue")).unwrap();
    std::fs::write(work.join("catalogue/registry.json"), json!(servers).to_string()).unwrap();
    git(work, &["add", "."]);
    git(work, &["commit", "-q", "-m", message]);
    git(work, &["rev-parse", "HEAD"])
}

/// A working repository and a bare clone of it: `main` has two commits (tag `v1` on the first), `dev` a
/// third. Returns (work, bare, first commit).
fn repositories(root: &Path) -> (PathBuf, PathBuf, String) {
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    let first = commit_servers(&work, &["io.example/one"], "one");
    git(&work, &["tag", "v1"]);
    commit_servers(&work, &["io.example/one", "io.example/two"], "two");
    git(&work, &["checkout", "-q", "-b", "dev"]);
    commit_servers(&work, &["io.example/one", "io.example/two", "io.example/three"], "three");
    git(&work, &["checkout", "-q", "main"]);
    let bare = root.join("registry.git");
    git(root, &["clone", "-q", "--bare", work.to_str().unwrap(), bare.to_str().unwrap()]);
    (work, bare, first)
}

fn git_registry(registry: &str, repository: String, reference: Option<GitRef>) -> RegistryConfig {
    let source = GitSource { repository, reference, path: "catalogue/registry.json".into(), auth: None };
    RegistryConfig { source: Source::Git(source), ..file_registry(registry) }
}

async fn live_count(store: &Store, registry: &str) -> usize {
    rows(store, registry)
        .await
        .iter()
        .filter(|r| r.official.status != registry_core::model::Status::Deleted)
        .count()
}

on_both_backends! {
    async fn a_branch_a_tag_a_commit_and_the_default_branch_each_read_their_own_file(test: &TestStore) {
        let root = tempfile::tempdir().unwrap();
        let (_work, bare, first) = repositories(root.path());
        let url = format!("file://{}", bare.display());
        let registries = [
            git_registry("default", bare.display().to_string(), None),
            git_registry("dev", url.clone(), Some(GitRef::Branch("dev".into()))),
            git_registry("tagged", url.clone(), Some(GitRef::Tag("v1".into()))),
            git_registry("pinned", url, Some(GitRef::Commit(first[..10].to_owned()))),
        ];
        test.store.apply_registries(&registries).await.unwrap();

        for registry in &registries {
            sync_registry(&test.store, registry, &context()).await.unwrap();
        }

        assert_eq!(live_count(&test.store, "default").await, 2);
        assert_eq!(live_count(&test.store, "dev").await, 3);
        assert_eq!(live_count(&test.store, "tagged").await, 1);
        assert_eq!(live_count(&test.store, "pinned").await, 1);
    }

    async fn the_clone_is_reused_and_a_new_commit_is_fetched(test: &TestStore) {
        let root = tempfile::tempdir().unwrap();
        let (work, bare, _) = repositories(root.path());
        let registry = git_registry("main", bare.display().to_string(), Some(GitRef::Branch("main".into())));
        test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
        let data = tempfile::tempdir().unwrap();
        let context = Context { data_dir: data.path().to_owned(), ..context() };
        sync_registry(&test.store, &registry, &context).await.unwrap();
        let unchanged = sync_registry(&test.store, &registry, &context).await.unwrap();

        commit_servers(&work, &["io.example/one", "io.example/two", "io.example/four"], "four");
        git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
        let changed = sync_registry(&test.store, &registry, &context).await.unwrap();

        assert_eq!(unchanged, SyncOutcome::Unchanged);
        assert!(matches!(changed, SyncOutcome::Written { servers: 3, .. }), "{changed:?}");
        let clones: Vec<_> = std::fs::read_dir(data.path().join("git")).unwrap().collect();
        assert_eq!(clones.len(), 1, "one clone on disk, fetched into again");
    }

    async fn an_unknown_ref_or_path_fails_permanently_with_a_clear_message(test: &TestStore) {
        let root = tempfile::tempdir().unwrap();
        let (_work, bare, _) = repositories(root.path());
        let url = bare.display().to_string();
        let no_branch = git_registry("nobranch", url.clone(), Some(GitRef::Branch("release".into())));
        let no_tag = git_registry("notag", url.clone(), Some(GitRef::Tag("v9".into())));
        let mut no_file = git_registry("nofile", url, None);
        if let Source::Git(git) = &mut no_file.source {
            git.path = "missing.json".into();
        }
        test.store.apply_registries(&[no_branch.clone(), no_tag.clone(), no_file.clone()]).await.unwrap();

        let branch = sync_registry(&test.store, &no_branch, &context()).await.unwrap_err();
        let tag = sync_registry(&test.store, &no_tag, &context()).await.unwrap_err();
        let file = sync_registry(&test.store, &no_file, &context()).await.unwrap_err();

        assert!(!branch.is_transient() && branch.to_string().contains("has no branch release"), "{branch}");
        assert!(!tag.is_transient() && tag.to_string().contains("has no tag v9"), "{tag}");
        assert!(!file.is_transient() && file.to_string().contains("has no file missing.json"), "{file}");
    }
}
