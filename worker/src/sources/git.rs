//! `git`: a registry file in a git repository (https, http, file:// or a local path), at a branch, a tag, a
//! commit, or the default branch. The clone lives on disk under the data directory and is reused: each sync
//! fetches just the wanted ref (shallow over http), and a fetch larger than [`MAX_FETCH_BYTES`] is refused.
//!
//! Every fetch is bounded: libgit2's connect and socket timeouts (set once per process by
//! [`set_git_timeouts`]) end a server that accepts and never answers, a transfer slower than
//! [`MIN_BYTES_PER_WINDOW`] per `worker.gitTimeout` is cut off, and a fetch whose sync is dropped (the job
//! timed out, the worker is stopping) is told to stop at its next progress report.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use git2::{AutotagOption, Cred, ErrorClass, ErrorCode, FetchOptions, Oid, RemoteCallbacks, Repository};
use registry_core::formats::Format;
use registry_runtime::config::{BasicAuth, GitRef, GitSource, format_duration};

use registry_core::digest::hex;
use sha2::{Digest, Sha256};

use super::sink::from_blocking;
use super::{Ask, Context, MAX_BODY_BYTES, Pulled, Sink, Source};
use crate::error::{SourceError, SyncError};

/// The most a fetch may transfer; a larger repository is refused with a message saying so.
pub const MAX_FETCH_BYTES: usize = 512 * 1024 * 1024;

/// The least a transfer must move per `worker.gitTimeout` window.
pub const MIN_BYTES_PER_WINDOW: usize = 1024;

/// Sets libgit2's connect timeout and its timeout for each read or write on a socket, for this process.
/// Call it from `main`, before the runtime starts any thread: libgit2 keeps these in unsynchronised
/// globals.
pub fn set_git_timeouts(timeout: Duration) {
    // 0 would mean no timeout at all.
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX).max(1);
    #[expect(
        unsafe_code,
        reason = "libgit2's only way to bound socket waits; called once, before threads start"
    )]
    // SAFETY: git2 requires that no other thread uses libgit2 while these globals change; `main` calls this
    // before the runtime, and with it any thread, exists.
    let set = unsafe {
        git2::opts::set_server_connect_timeout_in_milliseconds(millis)
            .and_then(|()| git2::opts::set_server_timeout_in_milliseconds(millis))
    };
    if let Err(error) = set {
        tracing::warn!(error = %error, "cannot set libgit2's timeouts; git fetches rely on worker.jobTimeout");
    }
}

impl Source for GitSource {
    async fn pull(
        &self,
        format: Format,
        context: &Context,
        ask: Ask<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<Pulled, SyncError> {
        let source = self.clone();
        let clone_dir = context.data_dir.join("git").join(clone_name(&self.repository));
        let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
        let stop = Limits { cancelled: cancel.0.clone(), window: context.git_timeout };
        let previous = ask.previous.map(str::to_owned);
        let pulled = from_blocking(sink, move |emitter| {
            // A fetch cancelled a moment ago may still be finishing in the same clone.
            let lock = clone_lock(&clone_dir);
            let _held = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let repo = open_or_init(&clone_dir)?;
            let blob = read_file(&repo, &source, &stop)?;
            let content_hash = hex(&Sha256::digest(blob.content()));
            if previous.as_deref() == Some(content_hash.as_str()) {
                return Ok(Pulled::Unchanged);
            }
            emitter.parse(format, blob.content(), || ())?;
            Ok(Pulled::Read { content_hash })
        })
        .await?;
        drop(cancel);
        Ok(pulled)
    }
}

/// One lock per clone directory in this process, so two fetches never write one clone at once.
fn clone_lock(dir: &Path) -> Arc<Mutex<()>> {
    static LOCKS: LazyLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = LazyLock::new(Mutex::default);
    let mut locks = LOCKS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    locks.entry(dir.to_owned()).or_default().clone()
}

/// Tells the blocking fetch to stop when the sync that waits for it is dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What may end a fetch from inside: the sync was dropped, or the transfer is too slow.
struct Limits {
    cancelled: Arc<AtomicBool>,
    window: Duration,
}

/// A directory name per repository: readable, and distinct for distinct URLs.
fn clone_name(repository: &str) -> String {
    let readable: String = repository
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .take(60)
        .collect();
    let digest = hex(&Sha256::digest(repository));
    format!("{readable}-{}", &digest[..12])
}

/// Fetches the configured ref and finds the registry file in it. libgit2 inflates the blob whole, so it is
/// capped at [`MAX_BODY_BYTES`]; it is parsed entry by entry from there.
fn read_file<'r>(
    repo: &'r Repository,
    source: &GitSource,
    limits: &Limits,
) -> Result<git2::Blob<'r>, SourceError> {
    let commit = fetch_ref(repo, source, limits)?;
    let tree =
        repo.find_commit(commit).and_then(|c| c.tree()).map_err(|e| git_error("reading the commit", e))?;
    let entry = tree.get_path(Path::new(&source.path)).map_err(|_| {
        SourceError::permanent(format!(
            "{} has no file {} at commit {commit}",
            source.repository, source.path
        ))
    })?;
    let blob = repo.find_blob(entry.id()).map_err(|_| {
        SourceError::permanent(format!("{} in {} is not a file", source.path, source.repository))
    })?;
    if blob.size() > MAX_BODY_BYTES {
        return Err(SourceError::permanent(format!("{} exceeds {} MiB", source.path, MAX_BODY_BYTES >> 20)));
    }
    Ok(blob)
}

fn open_or_init(dir: &Path) -> Result<Repository, SourceError> {
    match Repository::open_bare(dir) {
        Ok(repo) => Ok(repo),
        Err(_) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| SourceError::permanent(format!("cannot create {}", dir.display())).because(e))?;
            Repository::init_bare(dir).map_err(|e| git_error("creating the local clone", e))
        }
    }
}

/// Fetches the configured ref into the clone and returns the commit it names.
fn fetch_ref(repo: &Repository, source: &GitSource, limits: &Limits) -> Result<Oid, SourceError> {
    let url = remote_url(&source.repository);
    let mut remote = repo.remote_anonymous(&url).map_err(|e| git_error("opening the remote", e))?;
    let (refspec, local) = match &source.reference {
        Some(GitRef::Branch(branch)) => (
            format!("+refs/heads/{branch}:refs/remotes/origin/{branch}"),
            format!("refs/remotes/origin/{branch}"),
        ),
        Some(GitRef::Tag(tag)) => (format!("+refs/tags/{tag}:refs/tags/{tag}"), format!("refs/tags/{tag}")),
        Some(GitRef::Commit(_)) => ("+refs/heads/*:refs/remotes/origin/*".to_owned(), String::new()),
        None => ("+HEAD:refs/remotes/origin/HEAD".to_owned(), "refs/remotes/origin/HEAD".to_owned()),
    };
    let stopped = Cell::new(None);
    let mut options = fetch_options(source.auth.as_ref(), limits, &stopped)?;
    // Only the tip is needed, except to find a pinned commit; local transports cannot fetch shallow.
    let shallow = !matches!(source.reference, Some(GitRef::Commit(_))) && url.starts_with("http");
    if shallow {
        options.depth(1);
    }
    options.download_tags(AutotagOption::None);
    if let Err(error) = remote.fetch(&[refspec.as_str()], Some(&mut options), None) {
        return Err(match stopped.get() {
            Some(Stop::TooLarge) => SourceError::permanent(format!(
                "{} is larger than {} MiB; point the registry at a smaller repository",
                source.repository,
                MAX_FETCH_BYTES >> 20
            )),
            Some(Stop::TooSlow) => SourceError::transient(format!(
                "fetching {} moved less than {MIN_BYTES_PER_WINDOW} bytes in {}; cut off",
                source.repository,
                format_duration(limits.window)
            )),
            Some(Stop::Cancelled) => {
                SourceError::transient(format!("fetching {} was cancelled", source.repository))
            }
            None => fetch_error(source, error),
        });
    }
    match &source.reference {
        Some(GitRef::Commit(commit)) => {
            let object = repo.revparse_single(commit).map_err(|_| {
                SourceError::permanent(format!("{} has no commit {commit}", source.repository))
            })?;
            Ok(object.id())
        }
        _ => repo.refname_to_id(&local).map_err(|e| fetch_error(source, e)),
    }
}

/// Why a fetch was stopped from its progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    TooLarge,
    TooSlow,
    Cancelled,
}

fn fetch_options<'a>(
    auth: Option<&BasicAuth>,
    limits: &'a Limits,
    stopped: &'a Cell<Option<Stop>>,
) -> Result<FetchOptions<'a>, SourceError> {
    let mut callbacks = RemoteCallbacks::new();
    let mut window = (Instant::now(), 0usize);
    callbacks.transfer_progress(move |progress| {
        let received = progress.received_bytes();
        let stop = if limits.cancelled.load(Ordering::Relaxed) {
            Some(Stop::Cancelled)
        } else if received > MAX_FETCH_BYTES {
            Some(Stop::TooLarge)
        } else if window.0.elapsed() >= limits.window {
            let slow = received.saturating_sub(window.1) < MIN_BYTES_PER_WINDOW;
            window = (Instant::now(), received);
            slow.then_some(Stop::TooSlow)
        } else {
            None
        };
        stopped.set(stop);
        stop.is_none()
    });
    callbacks.sideband_progress(move |_| {
        let cancelled = limits.cancelled.load(Ordering::Relaxed);
        if cancelled {
            stopped.set(Some(Stop::Cancelled));
        }
        !cancelled
    });
    if let Some(auth) = auth {
        let (username, password) = (auth.username.clone(), super::http::read_password(auth)?);
        callbacks.credentials(move |_url, _user, _allowed| Cred::userpass_plaintext(&username, &password));
    }
    let mut options = FetchOptions::new();
    options.remote_callbacks(callbacks);
    Ok(options)
}

/// A local path becomes a `file://` URL; URLs pass through.
fn remote_url(repository: &str) -> String {
    if repository.contains("://") {
        return repository.to_owned();
    }
    let path = PathBuf::from(repository);
    let absolute = std::path::absolute(&path).unwrap_or(path);
    format!("file://{}", absolute.display())
}

/// A missing ref is permanent; network and server trouble is transient.
fn fetch_error(source: &GitSource, error: git2::Error) -> SourceError {
    let wanted = match &source.reference {
        Some(GitRef::Branch(b)) => format!("branch {b}"),
        Some(GitRef::Tag(t)) => format!("tag {t}"),
        Some(GitRef::Commit(c)) => format!("commit {c}"),
        None => "its default branch".to_owned(),
    };
    let missing_ref = error.code() == ErrorCode::NotFound
        || (error.class() == ErrorClass::Reference)
        || error.message().contains("couldn't find remote ref");
    if missing_ref {
        SourceError::permanent(format!("{} has no {wanted}", source.repository))
    } else {
        git_error(&format!("fetching {wanted} of {}", source.repository), error)
    }
}

fn git_error(doing: &str, error: git2::Error) -> SourceError {
    let message = format!("git: {doing}");
    let failed = match error.class() {
        ErrorClass::Net | ErrorClass::Http | ErrorClass::Ssl | ErrorClass::Os | ErrorClass::Ssh => {
            SourceError::transient(message)
        }
        _ => SourceError::permanent(message),
    };
    failed.because(Libgit2(error))
}

/// libgit2's error read as its message alone: its `Display` adds the class and code, which say nothing to an
/// operator.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.message())]
struct Libgit2(git2::Error);
