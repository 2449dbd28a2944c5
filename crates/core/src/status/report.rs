//! The "Having trouble?" form: customers tell the seller something is broken, without logging
//! in, and a burst of such reports alerts the seller (often the first sign of an outage no
//! monitor sees).
//!
//! Bots are kept out without JavaScript or a third-party captcha: the form carries a signed
//! token stamped with the time it was served (a post sooner than [`MIN_FILL`] after that, or
//! with no valid token, is refused), a hidden field only bots fill in, and a per-address limit
//! the server keeps. The form asks for no personal data.

use super::Board;
use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use sha2::Sha256;

/// A person needs at least this long to pick a component and press send.
pub const MIN_FILL: SignedDuration = SignedDuration::from_secs(2);
/// A form served longer ago than this must be reloaded.
pub const MAX_AGE: SignedDuration = SignedDuration::from_hours(2);
/// The longest description kept.
pub const MAX_TEXT: usize = 1000;
/// The hidden field only bots fill in.
pub const HONEYPOT: &str = "website";

/// How reports are limited and when they alert (the `[status]` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRules {
    /// This many reports within `burst_window` alert the seller (0: never).
    pub burst: u32,
    pub burst_window: SignedDuration,
    /// Reports one address may send within `address_window`.
    pub per_address: u32,
    pub address_window: SignedDuration,
}

impl Default for ReportRules {
    fn default() -> Self {
        Self {
            burst: 5,
            burst_window: SignedDuration::from_mins(10),
            per_address: 3,
            address_window: SignedDuration::from_mins(10),
        }
    }
}

/// The key the form tokens are signed with, shared by every node (kept in the database).
#[derive(Clone)]
pub struct FormKey(Vec<u8>);

impl std::fmt::Debug for FormKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormKey(..)")
    }
}

/// Why a form's token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Missing, altered or signed with another key.
    Invalid,
    /// Sent within [`MIN_FILL`] of being served: a script, not a person.
    TooQuick,
    /// Served more than [`MAX_AGE`] ago.
    Expired,
}

impl FormKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(secret.to_vec())
    }

    fn mac(&self, issued: i64) -> Hmac<Sha256> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(format!("herald-report:{issued}").as_bytes());
        m
    }

    /// The token of a form served at `issued`.
    pub fn token(&self, issued: Timestamp) -> String {
        let s = issued.as_second();
        format!(
            "{s}.{}",
            hex::encode(&self.mac(s).finalize().into_bytes()[..16])
        )
    }

    /// Checks a token sent back at `now`.
    pub fn check(&self, token: &str, now: Timestamp) -> Result<(), TokenProblem> {
        let (s, mac) = token.split_once('.').ok_or(TokenProblem::Invalid)?;
        let issued: i64 = s.parse().map_err(|_| TokenProblem::Invalid)?;
        let m = self.mac(issued);
        let given = hex::decode(mac).map_err(|_| TokenProblem::Invalid)?;
        if given.len() != 16 {
            return Err(TokenProblem::Invalid);
        }
        // Constant time, so the signature cannot be guessed a byte at a time.
        m.verify_truncated_left(&given)
            .map_err(|_| TokenProblem::Invalid)?;
        let age = now.as_second() - issued;
        if age < MIN_FILL.as_secs() {
            return Err(TokenProblem::TooQuick);
        }
        if age > MAX_AGE.as_secs() {
            return Err(TokenProblem::Expired);
        }
        Ok(())
    }
}

/// What the form sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportForm {
    /// A component id, or `None` for "something else".
    pub component: Option<String>,
    /// What the customer saw (may be empty).
    pub what: String,
    pub token: String,
    /// The hidden field was filled in: a bot.
    pub bot: bool,
}

/// A field of the form that is wrong, to show next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    pub field: &'static str,
    pub message: String,
}

/// Reads an `application/x-www-form-urlencoded` body. Unknown fields are ignored; a repeated
/// field keeps its first value.
pub fn parse_form(body: &[u8]) -> Result<ReportForm, FormError> {
    let mut f = ReportForm::default();
    let (mut component, mut what, mut token) = (None, None, None);
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "component" => {
                component.get_or_insert(v.into_owned());
            }
            "what" => {
                what.get_or_insert(v.into_owned());
            }
            "token" => {
                token.get_or_insert(v.into_owned());
            }
            HONEYPOT => f.bot |= !v.trim().is_empty(),
            _ => {}
        }
    }
    f.component = component
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty() && c != "other");
    let what = what.unwrap_or_default().replace("\r\n", "\n");
    let what = what.trim();
    if what.chars().count() > MAX_TEXT {
        return Err(FormError {
            field: "what",
            message: format!("Please keep it under {MAX_TEXT} characters."),
        });
    }
    if what
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(FormError {
            field: "what",
            message: "Please use plain text.".into(),
        });
    }
    f.what = what.to_string();
    f.token = token.unwrap_or_default();
    Ok(f)
}

impl ReportForm {
    /// Checks the component against the page: it must be one customers see.
    pub fn check_component(&self, board: &Board) -> Result<(), FormError> {
        match &self.component {
            Some(id) if !board.leaf_components().any(|c| &c.id == id) => Err(FormError {
                field: "component",
                message: "Please pick one of the listed services.".into(),
            }),
            _ => Ok(()),
        }
    }
}

/// A report as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub id: i64,
    pub component_id: Option<String>,
    pub what: String,
    pub reported_at: Timestamp,
}

/// The seller alert a burst of reports owes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BurstAlert {
    /// `status_reports_burst:{first report id}`: nodes counting the same burst raise it once.
    pub dedupe_key: String,
    pub message: String,
}

/// The alert owed when `recent` (the reports of the last `burst_window`, any order) reach the
/// burst size; `None` below it or when bursts do not alert.
pub fn burst(recent: &[Report], rules: &ReportRules, board: &Board) -> Option<BurstAlert> {
    if rules.burst == 0 || recent.len() < rules.burst as usize {
        return None;
    }
    let first = recent.iter().map(|r| r.id).min()?;
    let mut by: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in recent {
        let name = r
            .component_id
            .as_deref()
            .and_then(|id| board.component_name(id))
            .unwrap_or("something else");
        *by.entry(name).or_default() += 1;
    }
    let mut parts: Vec<(&str, usize)> = by.into_iter().collect();
    parts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let list = parts
        .iter()
        .map(|(n, c)| format!("{n} ({c})"))
        .collect::<Vec<_>>()
        .join(", ");
    let open = board.open_incidents().count();
    Some(BurstAlert {
        dedupe_key: format!("status_reports_burst:{first}"),
        message: format!(
            "{} customers reported a problem on the status page within {}: {list}. {}",
            recent.len(),
            super::human_duration(rules.burst_window),
            if open == 0 {
                "No incident is open: look now, and open one if something is broken.".to_string()
            } else {
                format!("{open} incident(s) open; post an update if this is new.")
            }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::tests::sample_board;
    use proptest::prelude::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_token_is_good_from_two_seconds_to_two_hours() {
        let k = FormKey::new(b"shared by every node");
        let served = at("2026-11-23T15:00:00Z");
        let t = k.token(served);
        let after = |s: i64| served + SignedDuration::from_secs(s);
        assert_eq!(k.check(&t, after(0)), Err(TokenProblem::TooQuick));
        assert_eq!(k.check(&t, after(1)), Err(TokenProblem::TooQuick));
        assert_eq!(k.check(&t, after(2)), Ok(()));
        assert_eq!(k.check(&t, after(7200)), Ok(()));
        assert_eq!(k.check(&t, after(7201)), Err(TokenProblem::Expired));
        // Another node with the same key accepts it; another key, an edit or a cut does not.
        assert_eq!(
            FormKey::new(b"shared by every node").check(&t, after(5)),
            Ok(())
        );
        assert_eq!(
            FormKey::new(b"another").check(&t, after(5)),
            Err(TokenProblem::Invalid)
        );
        let (s, mac) = t.split_once('.').unwrap();
        let moved = format!("{}.{mac}", s.parse::<i64>().unwrap() - 60);
        assert_eq!(k.check(&moved, after(5)), Err(TokenProblem::Invalid));
        assert_eq!(
            k.check(&t[..t.len() - 2], after(5)),
            Err(TokenProblem::Invalid)
        );
        for bad in ["", ".", "x.y", "1700000000", "1700000000.zz"] {
            assert_eq!(
                k.check(bad, after(5)),
                Err(TokenProblem::Invalid),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_form_reads_what_a_browser_sends() {
        let f =
            parse_form(b"token=1.ab&component=c0checkout01&what=Card+declined%0D%0Atwice&website=")
                .unwrap();
        assert_eq!(f.component.as_deref(), Some("c0checkout01"));
        assert_eq!(f.what, "Card declined\ntwice");
        assert_eq!(f.token, "1.ab");
        assert!(!f.bot);
        let f = parse_form(b"component=other&what=&website=http%3A%2F%2Fspam").unwrap();
        assert_eq!(f.component, None, "\"something else\"");
        assert!(f.bot, "the hidden field was filled");
        // A repeated field keeps its first value; unknown ones are ignored.
        let f = parse_form(b"component=a&component=b&extra=1").unwrap();
        assert_eq!(f.component.as_deref(), Some("a"));
        let long = format!("what={}", "x".repeat(MAX_TEXT + 1));
        assert_eq!(parse_form(long.as_bytes()).unwrap_err().field, "what");
        assert_eq!(parse_form(b"what=a%00b").unwrap_err().field, "what");
        assert!(
            parse_form(&[0xff, 0xfe, b'=', 0x80]).is_ok(),
            "invalid UTF-8 is replaced, not a panic"
        );
        let b = sample_board();
        let pick = |c: &str| ReportForm {
            component: Some(c.into()),
            ..Default::default()
        };
        assert!(pick("c0checkout01").check_component(&b).is_ok());
        assert_eq!(
            pick("nope").check_component(&b).unwrap_err().field,
            "component"
        );
        assert!(ReportForm::default().check_component(&b).is_ok());
    }

    fn reports(components: &[Option<&str>]) -> Vec<Report> {
        components
            .iter()
            .enumerate()
            .map(|(i, c)| Report {
                id: 100 + i as i64,
                component_id: c.map(str::to_string),
                what: String::new(),
                reported_at: at("2026-11-23T15:00:00Z"),
            })
            .collect()
    }

    #[test]
    fn five_reports_in_ten_minutes_alert_the_seller_with_what_they_name() {
        let b = sample_board();
        let rules = ReportRules::default();
        let c = Some("c0checkout01");
        assert_eq!(burst(&reports(&[c, c, None, c]), &rules, &b), None);
        let a = burst(&reports(&[c, c, None, c, c]), &rules, &b).unwrap();
        assert_eq!(a.dedupe_key, "status_reports_burst:100");
        assert!(
            a.message.starts_with("5 customers reported a problem on the status page within 10 minutes: Checkout (4), something else (1)."),
            "{}",
            a.message
        );
        assert!(a.message.contains("1 incident(s) open"), "{}", a.message);
        let never = ReportRules { burst: 0, ..rules };
        assert_eq!(burst(&reports(&[c; 50]), &never, &b), None);
    }

    proptest! {
        #[test]
        fn a_burst_alerts_exactly_at_its_size_whatever_the_order(
            n in 0usize..20, size in 1u32..10, seed in any::<u64>()
        ) {
            let b = sample_board();
            let rules = ReportRules { burst: size, ..ReportRules::default() };
            let mut rs = reports(&vec![Some("c0checkout01"); n]);
            let first = burst(&rs, &rules, &b);
            prop_assert_eq!(first.is_some(), n >= size as usize);
            // Nodes reading the same reports in another order raise the same alert.
            let k = (seed as usize) % (n.max(1));
            rs.rotate_left(k);
            prop_assert_eq!(burst(&rs, &rules, &b), first);
        }
    }
}
