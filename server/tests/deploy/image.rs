//! The container image: `Dockerfile` and `.dockerignore`. No engine runs here, so the image is checked by
//! hadolint, by reading its instructions, and by matching every shared library the binaries link to a
//! package the runtime stage installs.

use std::collections::BTreeSet;
use std::process::Command;

use crate::support::*;

/// The Dockerfile's instructions, continuation lines joined and comments dropped, by stage.
fn stages() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#') && !l.is_empty()) {
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Vec<String>> = Vec::new();
    for instruction in instructions {
        if instruction.starts_with("FROM ") {
            stages.push(Vec::new());
        }
        if let Some(stage) = stages.last_mut() {
            stage.push(instruction);
        }
    }
    stages
}

/// The runtime stage: the image less its binaries, which the two stages after it add.
fn runtime() -> Vec<String> {
    let found = stages().into_iter().find(|stage| stage[0].ends_with(" AS runtime"));
    found.expect("a stage named runtime")
}

/// The packages the runtime stage installs with apt-get.
fn runtime_packages() -> BTreeSet<String> {
    let installs = runtime().into_iter().filter(|i| i.starts_with("RUN ")).flat_map(|run| {
        let steps: Vec<String> = run.split("&&").map(str::to_owned).collect();
        steps.into_iter().filter(|s| s.contains("apt-get install")).collect::<Vec<_>>()
    });
    let words = installs.flat_map(|step| {
        let after = step.split_once("apt-get install").map(|(_, after)| after.to_owned()).unwrap_or_default();
        after.split_whitespace().filter(|w| !w.starts_with('-')).map(str::to_owned).collect::<Vec<_>>()
    });
    words.collect()
}

/// The Debian package that holds `path`, looked up as given and, on a merged /usr, under /usr.
fn package_of(path: &str) -> String {
    let candidates = [path.to_owned(), format!("/usr{path}")];
    for candidate in candidates {
        let output = Command::new("dpkg").args(["-S", &candidate]).output().unwrap();
        if output.status.success() {
            let line = String::from_utf8_lossy(&output.stdout).lines().next().unwrap_or_default().to_owned();
            let package = line.split(':').next().unwrap_or_default();
            return package.trim().to_owned();
        }
    }
    panic!("no Debian package holds {path}")
}

#[test]
fn hadolint_finds_nothing_in_the_dockerfile() {
    let findings = run(tool("HADOLINT", "hadolint").arg(root().join("Dockerfile")));
    assert!(findings.trim().is_empty(), "hadolint:\n{findings}");
}

#[test]
fn every_shared_library_the_binaries_link_comes_from_a_package_the_runtime_stage_installs() {
    let packages = runtime_packages();
    assert!(packages.contains("ca-certificates"), "CA certificates for HTTPS: {packages:?}");
    let mut needed = BTreeSet::new();
    for name in ["registry-api", "registry-worker", "registry-admin"] {
        let linked = run(Command::new("ldd").arg(binary(name)));
        for line in linked.lines() {
            // "libssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)".
            let path = line.split("=>").last().unwrap().split_whitespace().next().unwrap_or_default();
            if path.starts_with('/') {
                needed.insert((package_of(path), path.to_owned()));
            }
        }
    }
    assert!(needed.iter().any(|(package, _)| package == "libssl3"), "git2 links OpenSSL: {needed:?}");
    let missing: Vec<_> = needed.iter().filter(|(package, _)| !packages.contains(package)).collect();
    assert!(missing.is_empty(), "libraries whose package the runtime stage does not install: {missing:?}");
}

#[test]
fn the_image_holds_the_three_binaries_runs_as_non_root_and_checks_itself_with_its_own_binary() {
    let build = stages().into_iter().next().unwrap().join("\n");
    for binary in ["registry-api", "registry-worker", "registry-admin"] {
        assert!(build.contains(&format!("--bin {binary}")), "the build stage builds {binary}");
    }
    assert!(build.contains("--locked"), "the build uses Cargo.lock");
    let runtime = runtime();
    let find = |keyword: &str| {
        let found =
            runtime.iter().filter(|i| i.starts_with(&format!("{keyword} "))).cloned().collect::<Vec<_>>();
        assert!(!found.is_empty(), "the runtime stage has no {keyword}");
        found.join("\n")
    };
    let user = find("USER");
    let uid: u32 = user.trim_start_matches("USER ").split(':').next().unwrap().parse().unwrap();
    assert!(uid >= 1000, "a numeric non-root user, which runAsNonRoot can verify: {user}");
    // The default image takes the binaries of the build stage; `--target prebuilt` those of the context.
    let all = stages();
    let (last, before) = all.split_last().unwrap();
    assert_eq!(last[..], ["FROM runtime".to_owned(), "COPY --from=build /out/ /usr/local/bin/".to_owned()]);
    assert_eq!(
        before.last().unwrap()[..],
        [
            "FROM runtime AS prebuilt".to_owned(),
            "COPY prebuilt/registry-api prebuilt/registry-worker prebuilt/registry-admin /usr/local/bin/"
                .to_owned()
        ]
    );
    assert_eq!(find("VOLUME"), r#"VOLUME ["/data"]"#);
    assert_eq!(find("WORKDIR"), "WORKDIR /data");
    // Exec form everywhere: there is no shell to run a string through.
    assert!(
        find("HEALTHCHECK").ends_with(r#"CMD ["registry-api", "healthcheck"]"#),
        "{}",
        find("HEALTHCHECK")
    );
    assert!(find("CMD").starts_with(r#"CMD ["registry-api", "serve""#), "{}", find("CMD"));
    let labels = find("LABEL");
    for label in ["title", "description", "version", "revision", "licenses", "base.name"] {
        assert!(
            labels.contains(&format!("org.opencontainers.image.{label}=")),
            "OCI label {label}: {labels}"
        );
    }
}

#[test]
fn the_build_context_leaves_out_what_is_built_or_local_and_keeps_what_the_build_reads() {
    let ignored = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let patterns: Vec<&str> =
        ignored.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    for left_out in ["/target", "/.git", "/data"] {
        assert!(patterns.contains(&left_out), "{left_out} is not sent to the builder");
    }
    let kept =
        ["Cargo.toml", "Cargo.lock", "migrations", "shared", "api", "worker", "admin", "server", "testkit"];
    for path in kept {
        assert!(root().join(path).exists(), "{path} is in the repository");
        let hit = patterns.iter().find(|p| p.trim_start_matches('/') == path);
        assert!(hit.is_none(), "the build needs {path}, which .dockerignore leaves out");
    }
}
