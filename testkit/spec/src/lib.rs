//! Test data that needs no registry type, so that every crate's tests can read it, the domain crate's
//! included: the official server.json schema and the API's response shapes ([`spec`]), the project's own
//! fixtures under `testkit/fixtures/` ([`fixtures`]), and the one door to the optional reference data beside
//! a team checkout ([`reference`]).

pub mod fixtures;
pub mod reference;
pub mod spec;
