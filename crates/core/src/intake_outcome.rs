//! What became of one inbound item (an e-mail, a webhook event, a Telegram update, a form
//! post), the same for every channel, so `aduan_intake_total{channel, outcome}` adds up
//! across channels and dashboards need one label set.

use serde::Serialize;

/// The outcome of one inbound item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntakeOutcome {
    /// A new complaint was committed (its acknowledgement queued when the channel replies).
    Accepted,
    /// Added to an existing complaint (a reply in its thread, a chat follow-up).
    Appended,
    /// Already stored (a redelivery): nothing new was written.
    Duplicate,
    /// A question answered without making a complaint (a bot command, a status query).
    Answered,
    /// Not a citizen message, skipped on purpose (receipts, echoes, reactions, auto-replies,
    /// events of another app's thread).
    Ignored,
    /// Refused as bad input (malformed, invalid fields, wrong signature, too large); the
    /// sender was told when the channel can tell it.
    Rejected,
    /// Refused by a rate limit.
    RateLimited,
    /// A bounce of one of aduan's own replies, recorded on that reply.
    Bounce,
    /// Not stored now (a part is down); the sender delivers it again.
    Deferred,
}

impl IntakeOutcome {
    /// Every outcome, in label order of the metric.
    pub const ALL: [IntakeOutcome; 9] = [
        IntakeOutcome::Accepted,
        IntakeOutcome::Appended,
        IntakeOutcome::Duplicate,
        IntakeOutcome::Answered,
        IntakeOutcome::Ignored,
        IntakeOutcome::Rejected,
        IntakeOutcome::RateLimited,
        IntakeOutcome::Bounce,
        IntakeOutcome::Deferred,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            IntakeOutcome::Accepted => "accepted",
            IntakeOutcome::Appended => "appended",
            IntakeOutcome::Duplicate => "duplicate",
            IntakeOutcome::Answered => "answered",
            IntakeOutcome::Ignored => "ignored",
            IntakeOutcome::Rejected => "rejected",
            IntakeOutcome::RateLimited => "rate_limited",
            IntakeOutcome::Bounce => "bounce",
            IntakeOutcome::Deferred => "deferred",
        }
    }
}

impl std::fmt::Display for IntakeOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_snake_case_and_match_serde() {
        let mut seen = std::collections::HashSet::new();
        for o in IntakeOutcome::ALL {
            assert!(seen.insert(o.label()), "{o:?}");
            assert_eq!(serde_json::to_value(o).unwrap(), o.label());
        }
    }
}
