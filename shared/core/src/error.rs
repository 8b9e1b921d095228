//! How an error keeps its cause: the words of what failed, and the error that made it fail as its
//! `source()`. Operators read errors as text (sync status messages, logs, the CLI), so the text tells the
//! cause too; code that needs the cause's type walks `source()` instead of parsing the text.

use std::fmt;

/// Any error, as a cause kept by another.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Displays the words of what failed, then `: ` and the cause. Empty words mean the cause says it all.
pub struct Told<'a>(pub &'a str, pub &'a Option<BoxError>);

impl fmt::Display for Told<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Told("", Some(cause)) => write!(f, "{cause}"),
            Told(what, Some(cause)) => write!(f, "{what}: {cause}"),
            Told(what, None) => f.write_str(what),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_follows_the_words() {
        let cause: Option<BoxError> = Some("connection reset".into());
        assert_eq!(Told("GET /", &cause).to_string(), "GET /: connection reset");
        assert_eq!(Told("", &cause).to_string(), "connection reset");
        assert_eq!(Told("GET /: 404 Not Found", &None).to_string(), "GET /: 404 Not Found");
    }
}
