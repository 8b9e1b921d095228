//! Embeds the web catalogue's assets (`ui/assets/`), compressed, in every build profile: the container image
//! runs the test build's binaries, where nothing may read the source tree at run time. (`.cargo/config.toml`
//! sets `MEMORY_SERVE_QUIET`, so the build does not list each asset as a warning.)
fn main() {
    memory_serve::load_directory_with_embed("ui/assets", true);
}
