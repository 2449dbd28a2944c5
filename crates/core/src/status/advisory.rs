//! The store advisory: a short notice of limited service the seller declares ("Browsing
//! works; ordering is paused until about 15:00"), served as JSON at `/api/v1/advisory` for
//! any storefront to read, and as `/advisory.js`, a small script a storefront embeds to show
//! it as a banner. It is also the first thing on the status page.

use super::v2::instant;
use super::{Board, PageStatus};
use jiff::{Timestamp, tz::TimeZone};
use serde::{Deserialize, Serialize};

/// How loud the banner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AdvisoryLevel {
    /// Something to know ("dispatch takes a day longer this week").
    Info,
    /// Part of the store does not work ("ordering is paused").
    #[default]
    Warning,
    /// The store does not work.
    Critical,
}

impl AdvisoryLevel {
    pub const ALL: [Self; 3] = [Self::Info, Self::Warning, Self::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a level; use info, warning or critical"))
    }
}

/// The advisory in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advisory {
    pub message: String,
    pub level: AdvisoryLevel,
    /// When the seller expects full service back, shown as "until about 3:00 PM".
    pub until: Option<Timestamp>,
    /// When it goes away by itself; without one it stays until the seller clears it.
    pub expires_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl Advisory {
    /// Whether it is still shown at `now`.
    pub fn shown_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }

    /// "until about 3:00 PM EST" in the page's time zone, when the seller gave a time.
    pub fn until_text(&self, tz: &TimeZone) -> Option<String> {
        self.until.map(|t| {
            format!(
                "until about {}",
                t.to_zoned(tz.clone()).strftime("%-I:%M %p %Z")
            )
        })
    }
}

impl Board {
    /// The advisory shown at `now`, if any.
    pub fn advisory_at(&self, now: Timestamp) -> Option<&Advisory> {
        self.advisory.as_ref().filter(|a| a.shown_at(now))
    }
}

#[derive(Serialize)]
struct AdvisoryJson<'a> {
    active: bool,
    message: Option<&'a str>,
    level: Option<&'static str>,
    until: Option<String>,
    /// "until about 3:00 PM EST", ready to show.
    until_text: Option<String>,
    updated_at: Option<String>,
    /// The page's overall status, for a storefront that also wants to show it.
    status: StatusJson,
    page: PageJson<'a>,
}

#[derive(Serialize)]
struct StatusJson {
    indicator: &'static str,
    description: &'static str,
}

#[derive(Serialize)]
struct PageJson<'a> {
    name: &'a str,
    url: &'a str,
}

/// The `/api/v1/advisory` document at `now`.
pub fn json(board: &Board, now: Timestamp) -> String {
    let tz = TimeZone::get(&board.page.time_zone).unwrap_or(TimeZone::UTC);
    let a = board.advisory_at(now);
    let PageStatus {
        indicator,
        description,
    } = board.status();
    let doc = AdvisoryJson {
        active: a.is_some(),
        message: a.map(|a| a.message.as_str()),
        level: a.map(|a| a.level.as_str()),
        until: a.and_then(|a| a.until).map(|t| instant(t, &tz)),
        until_text: a.and_then(|a| a.until_text(&tz)),
        updated_at: a.map(|a| instant(a.updated_at, &tz)),
        status: StatusJson {
            indicator: indicator.as_str(),
            description,
        },
        page: PageJson {
            name: &board.page.name,
            url: &board.page.url,
        },
    };
    serde_json::to_string_pretty(&doc).expect("the advisory serialises")
}

/// `/advisory.js`: the banner script a storefront embeds with
/// `<script src="https://status.example.com/advisory.js" async></script>`. It reads the
/// advisory from the host it was loaded from and, when one is in force, puts a banner at the
/// top of the page, built with `textContent` so nothing the seller wrote runs as HTML. With no
/// advisory, or when the status host cannot be reached, it does nothing.
pub const SCRIPT: &str = include_str!("templates/advisory.js");
