//! The deployment kit, checked with the tools that can run without an engine or a cluster: the Dockerfile
//! (hadolint, and the shared libraries the binaries link against the runtime stage's packages), the compose
//! file (`docker-compose config`, and every configuration it mounts through `registry-admin config check`),
//! and the Helm chart (`helm lint --strict`, `helm template` over the value sets in `charts/mcp-registry/ci`,
//! the Kubernetes schemas, promtool, and the rendered manifests' content). `scripts/test.sh` installs the
//! tools and names them in `HELM`, `HADOLINT` and `KUBERNETES_VALIDATE`; otherwise they are looked up on
//! the path.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod chart;
mod compose;
mod image;
mod support;
