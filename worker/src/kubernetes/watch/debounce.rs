//! When a burst of changes asks for its discovery: a trailing window after the last change, capped after the
//! first, so a steady stream of changes still gets discoveries.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct Debounce {
    window: Duration,
    cap: Duration,
    /// The first and the last change not yet asked for.
    pending: Option<(Instant, Instant)>,
}

impl Debounce {
    pub fn new(window: Duration, cap: Duration) -> Self {
        Self { window, cap, pending: None }
    }

    pub fn change(&mut self, now: Instant) {
        self.pending = Some((self.pending.map_or(now, |(first, _)| first), now));
    }

    /// When to ask, if anything is pending.
    pub fn due(&self) -> Option<Instant> {
        self.pending.map(|(first, last)| (last + self.window).min(first + self.cap))
    }

    /// The discovery was asked for.
    pub fn asked(&mut self) {
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_asked_for_once_after_its_last_change_and_a_steady_stream_at_the_cap() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut debounce = Debounce::new(2 * second, 15 * second);
        assert_eq!(debounce.due(), None);
        debounce.change(start);
        debounce.change(start + second);
        assert_eq!(debounce.due(), Some(start + 3 * second), "2 s after the last change");
        for i in 2..20 {
            debounce.change(start + i * second);
        }
        assert_eq!(
            debounce.due(),
            Some(start + 15 * second),
            "15 s after the first, however long it goes on"
        );
        debounce.asked();
        assert_eq!(debounce.due(), None);
    }
}
