//! What every handler can reach.

use std::sync::Arc;

use registry_shared::config::Config;
use registry_shared::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
}
