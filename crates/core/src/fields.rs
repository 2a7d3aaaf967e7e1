//! Field-by-field checks of what a citizen typed, every problem at once.
//!
//! [`Desk::submit`](crate::desk::Desk::submit) stops at the first invalid field; a form wants
//! to show each problem next to its own field and keep everything the citizen typed. The
//! limits and parsers are the desk's own, so a submission that passes here is accepted
//! there.

use serde::Serialize;

use crate::desk::{MAX_BODY_CHARS, MAX_FIELD_CHARS, Submission};
use crate::types::{Category, EmailAddress, PhoneNumber};

/// What is wrong with one field. Serialized as a code (`"required"`, …) that the page's
/// template turns into a sentence in Bahasa Indonesia.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The field must be filled in.
    Required,
    /// Longer than the field allows.
    TooLong,
    /// Not a valid value for the field (e-mail address, phone number, category).
    Invalid,
}

/// One field's problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    /// The JSON field name (`body`, `email`, …).
    pub field: &'static str,
    pub problem: Problem,
}

/// Longest accepted name (characters).
pub const MAX_NAME_CHARS: usize = 200;

fn too_long(v: &Option<String>, max: usize) -> bool {
    v.as_deref().is_some_and(|s| s.trim().chars().count() > max)
}

fn filled(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Every problem of the citizen-typed fields of `sub`, in form order.
pub fn check(sub: &Submission) -> Vec<FieldProblem> {
    let mut out = Vec::new();
    let mut push = |field, problem| out.push(FieldProblem { field, problem });
    if too_long(&sub.name, MAX_NAME_CHARS) {
        push("name", Problem::TooLong);
    }
    if too_long(&sub.address, MAX_FIELD_CHARS) {
        push("address", Problem::TooLong);
    }
    if too_long(&sub.email, 254) {
        push("email", Problem::TooLong);
    } else if let Some(e) = filled(&sub.email)
        && EmailAddress::parse(e).is_err()
    {
        push("email", Problem::Invalid);
    }
    if too_long(&sub.phone, 40) {
        push("phone", Problem::TooLong);
    } else if let Some(p) = filled(&sub.phone)
        && PhoneNumber::parse(p).is_err()
    {
        push("phone", Problem::Invalid);
    }
    if too_long(&sub.target, MAX_FIELD_CHARS) {
        push("target", Problem::TooLong);
    }
    if let Some(c) = filled(&sub.category)
        && (c.chars().count() > 64 || c.parse::<Category>().is_err())
    {
        push("category", Problem::Invalid);
    }
    let body = sub.body.trim();
    if body.is_empty() {
        push("body", Problem::Required);
    } else if body.chars().count() > MAX_BODY_CHARS {
        push("body", Problem::TooLong);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(f: impl FnOnce(&mut Submission)) -> Submission {
        let mut s = Submission {
            body: "KTP-el saya belum jadi.".into(),
            ..Default::default()
        };
        f(&mut s);
        s
    }

    #[test]
    fn a_plain_complaint_has_no_problem() {
        assert!(check(&sub(|_| {})).is_empty());
        // Empty optional fields are fine: the form posts them as "".
        let s = sub(|s| {
            s.name = Some(String::new());
            s.email = Some("  ".into());
            s.phone = Some(String::new());
            s.category = Some(String::new());
        });
        assert!(check(&s).is_empty(), "{:?}", check(&s));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let s = sub(|s| {
            s.body = "   ".into();
            s.email = Some("made.sari@".into());
            s.phone = Some("nol delapan".into());
            s.name = Some("x".repeat(201));
            s.category = Some("bukan".into());
        });
        let got: Vec<_> = check(&s)
            .into_iter()
            .map(|p| (p.field, p.problem))
            .collect();
        assert_eq!(
            got,
            vec![
                ("name", Problem::TooLong),
                ("email", Problem::Invalid),
                ("phone", Problem::Invalid),
                ("category", Problem::Invalid),
                ("body", Problem::Required),
            ]
        );
    }

    #[test]
    fn phone_spellings_citizens_use_are_accepted() {
        for p in [
            "0812 3456 7890",
            "+62 812-3456-7890",
            "(0362) 21234",
            "0812.3456.789",
        ] {
            assert!(check(&sub(|s| s.phone = Some(p.into()))).is_empty(), "{p}");
        }
    }
}
