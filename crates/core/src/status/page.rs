//! The status page in HTML: `/` (current status, open incidents with every update, upcoming
//! maintenance, components with 90-day uptime bars), `/incidents/{id}` and `/history`.
//!
//! Plain semantic HTML, no JavaScript, readable on a phone, light and dark by the reader's
//! setting. Every open incident says how old its latest update is, when the next one is
//! promised (or how late it is) and the estimated restore time when the seller gave one. The
//! page shows no personal data: only what the seller wrote for the public.

use super::uptime::{self, UptimeBar};
use super::{Board, ComponentStatus, Incident, IncidentStatus, human_duration};
use jiff::{Timestamp, tz::TimeZone};
use serde::Serialize;

/// How many days the uptime bars and the history page cover.
pub const HISTORY_DAYS: i32 = 90;

#[derive(Debug, Serialize)]
struct Moment {
    /// RFC 3339 for `<time datetime>`.
    at: String,
    /// "Nov 23, 3:05 PM EST".
    text: String,
}

#[derive(Debug, Serialize)]
struct UpdateView {
    status: &'static str,
    body: String,
    posted: Moment,
    affected: Vec<String>,
}

#[derive(Debug, Serialize)]
struct IncidentView {
    id: String,
    name: String,
    impact: &'static str,
    status: &'static str,
    maintenance: bool,
    open: bool,
    started: Moment,
    resolved: Option<Moment>,
    window: Option<String>,
    components: Vec<String>,
    /// "Last update 18 minutes ago".
    age: Option<String>,
    /// "Next update by 3:35 PM EST (in 12 minutes)" or an honest "overdue" line.
    next_update: Option<String>,
    overdue: bool,
    restore: Option<String>,
    updates: Vec<UpdateView>,
}

#[derive(Debug, Serialize)]
struct DayView {
    date: String,
    class: &'static str,
    title: String,
}

#[derive(Debug, Serialize)]
struct ComponentView {
    name: String,
    description: Option<String>,
    status: &'static str,
    label: &'static str,
    uptime: Option<String>,
    days: Vec<DayView>,
}

#[derive(Debug, Serialize)]
struct GroupView {
    name: Option<String>,
    status: &'static str,
    label: &'static str,
    components: Vec<ComponentView>,
}

#[derive(Debug, Serialize)]
struct Frame {
    name: String,
    url: String,
    indicator: &'static str,
    description: &'static str,
    generated: Moment,
    /// Set when the database could not be read: since when the page is not refreshed.
    stale_since: Option<Moment>,
}

fn moment(t: Timestamp, tz: &TimeZone) -> Moment {
    let z = t.to_zoned(tz.clone());
    Moment {
        at: crate::time::rfc3339(t),
        text: z.strftime("%b %-d, %-I:%M %p %Z").to_string(),
    }
}

fn short(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%-I:%M %p %Z").to_string()
}

fn incident_view(b: &Board, i: &Incident, now: Timestamp, tz: &TimeZone) -> IncidentView {
    let open = i.status.is_open();
    let next = i.next_update_by();
    let overdue = next.is_some_and(|n| n <= now);
    let next_update = next.map(|n| {
        if n > now {
            format!(
                "Next update by {} (in {}).",
                short(n, tz),
                human_duration(n.duration_since(now))
            )
        } else {
            format!(
                "The next update was promised by {}; it is {} late. We are still working on it.",
                short(n, tz),
                human_duration(now.duration_since(n))
            )
        }
    });
    let not_started = i.is_maintenance() && i.status == IncidentStatus::Scheduled;
    IncidentView {
        id: i.id.clone(),
        name: i.name.clone(),
        impact: if i.is_maintenance() {
            "maintenance"
        } else {
            i.impact.as_str()
        },
        status: i.status.label(),
        maintenance: i.is_maintenance(),
        open,
        started: moment(i.started_at, tz),
        resolved: i.resolved_at.map(|t| moment(t, tz)),
        window: i
            .scheduled_for
            .zip(i.scheduled_until)
            .map(|(f, u)| format!("{} – {}", moment(f, tz).text, moment(u, tz).text)),
        components: i
            .component_ids
            .iter()
            .filter_map(|id| b.component_name(id).map(str::to_string))
            .collect(),
        age: (open && !not_started).then(|| {
            format!(
                "Last update {} ago.",
                human_duration(now.duration_since(i.last_update_at()))
            )
        }),
        next_update,
        overdue,
        restore: i
            .estimated_restore_at()
            .map(|t| format!("Estimated restore: {}.", moment(t, tz).text)),
        updates: i
            .updates
            .iter()
            .map(|u| UpdateView {
                status: u.status.label(),
                body: u.body.clone(),
                posted: moment(u.display_at, tz),
                affected: u
                    .affected_components
                    .iter()
                    .map(|a| format!("{}: {}", a.name, a.new_status.label()))
                    .collect(),
            })
            .collect(),
    }
}

fn day_class(s: Option<ComponentStatus>) -> &'static str {
    match s {
        None => "none",
        Some(s) => s.as_str(),
    }
}

fn component_view(b: &Board, c: &super::Component, now: Timestamp, tz: &TimeZone) -> ComponentView {
    let empty = Vec::new();
    let bar: UptimeBar = uptime::bar(
        b.history.get(&c.id).unwrap_or(&empty),
        HISTORY_DAYS,
        now,
        tz,
    );
    let status = b.shown_status(c);
    ComponentView {
        name: c.name.clone(),
        description: c.description.clone(),
        status: status.as_str(),
        label: status.label(),
        uptime: bar.uptime_percent.map(|p| format!("{p:.2}% uptime")),
        days: bar
            .days
            .iter()
            .map(|d| DayView {
                date: d.date.to_string(),
                class: day_class(d.worst),
                title: match d.worst {
                    None => format!("{}: no data", d.date.strftime("%b %-d")),
                    Some(w) if d.down_secs > 0 => format!(
                        "{}: {}, {} of downtime",
                        d.date.strftime("%b %-d"),
                        w.label(),
                        human_duration(jiff::SignedDuration::from_secs(d.down_secs))
                    ),
                    Some(w) => format!("{}: {}", d.date.strftime("%b %-d"), w.label()),
                },
            })
            .collect(),
    }
}

fn groups(b: &Board, now: Timestamp, tz: &TimeZone) -> Vec<GroupView> {
    let visible = |c: &&super::Component| {
        !c.only_show_if_degraded || c.status != ComponentStatus::Operational
    };
    let mut out = Vec::new();
    for top in b.components.iter().filter(|c| c.group_id.is_none()) {
        if top.is_group {
            let members: Vec<_> = b
                .components
                .iter()
                .filter(|m| m.group_id.as_deref() == Some(&top.id))
                .filter(visible)
                .map(|m| component_view(b, m, now, tz))
                .collect();
            if members.is_empty() {
                continue;
            }
            let s = b.shown_status(top);
            out.push(GroupView {
                name: Some(top.name.clone()),
                status: s.as_str(),
                label: s.label(),
                components: members,
            });
        } else if visible(&top) {
            out.push(GroupView {
                name: None,
                status: top.status.as_str(),
                label: top.status.label(),
                components: vec![component_view(b, top, now, tz)],
            });
        }
    }
    out
}

fn frame(b: &Board, stale_since: Option<Timestamp>, tz: &TimeZone) -> Frame {
    let s = b.status();
    Frame {
        name: b.page.name.clone(),
        url: b.page.url.clone(),
        indicator: s.indicator.as_str(),
        description: s.description,
        // The page's last change, not the render time: an unchanged page keeps its bytes
        // (and its ETag) from one re-render to the next.
        generated: moment(
            Some(b.updated_at())
                .filter(|t| *t > Timestamp::UNIX_EPOCH)
                .unwrap_or(b.read_at),
            tz,
        ),
        stale_since: stale_since.map(|t| moment(t, tz)),
    }
}

const BASE: &str = include_str!("templates/base.html");
const HOME: &str = include_str!("templates/home.html");
const INCIDENT: &str = include_str!("templates/incident.html");
const HISTORY: &str = include_str!("templates/history.html");
const CARD: &str = include_str!("templates/incident_card.html");
const REPORT: &str = include_str!("templates/report.html");
const SUBSCRIBE: &str = include_str!("templates/subscribe.html");
const SUBSCRIPTION: &str = include_str!("templates/subscription.html");

fn render(name: &str, ctx: minijinja::Value) -> String {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    for (n, src) in [
        ("base.html", BASE),
        ("home.html", HOME),
        ("incident.html", INCIDENT),
        ("history.html", HISTORY),
        ("incident_card.html", CARD),
        ("report.html", REPORT),
        ("subscribe.html", SUBSCRIBE),
        ("subscription.html", SUBSCRIPTION),
    ] {
        env.add_template(n, src)
            .expect("the status templates compile");
    }
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .expect("the status page renders from its typed facts")
}

/// Renders the pages of one board at `now`. `stale_since` is set while the database cannot be
/// read: the page says since when it has not been refreshed.
pub struct Pages<'a> {
    board: &'a Board,
    now: Timestamp,
    stale_since: Option<Timestamp>,
    tz: TimeZone,
}

impl<'a> Pages<'a> {
    pub fn new(board: &'a Board, now: Timestamp, stale_since: Option<Timestamp>) -> Self {
        let tz = TimeZone::get(&board.page.time_zone).unwrap_or(TimeZone::UTC);
        Self {
            board,
            now,
            stale_since,
            tz,
        }
    }

    /// `/`
    pub fn home(&self) -> String {
        let (b, now, tz) = (self.board, self.now, &self.tz);
        let open: Vec<_> = b
            .open_incidents()
            .map(|i| incident_view(b, i, now, tz))
            .collect();
        let maintenance: Vec<_> = b
            .incidents
            .iter()
            .filter(|i| i.is_maintenance() && i.status.is_open())
            .map(|i| incident_view(b, i, now, tz))
            .collect();
        let recent: Vec<_> = b
            .incidents
            .iter()
            .filter(|i| !i.status.is_open())
            .filter(|i| i.updated_at >= now - jiff::SignedDuration::from_hours(14 * 24))
            .take(10)
            .map(|i| incident_view(b, i, now, tz))
            .collect();
        render(
            "home.html",
            minijinja::context! {
                frame => frame(b, self.stale_since, tz),
                advisory => b.advisory_at(now).map(|a| minijinja::context! {
                    level => a.level.as_str(),
                    message => a.message.clone(),
                    until => a.until_text(tz),
                }),
                open => open,
                maintenance => maintenance,
                groups => groups(b, now, tz),
                recent => recent,
                days => HISTORY_DAYS,
            },
        )
    }

    /// `/incidents/{id}`, or `None` for an id that is not on the page.
    pub fn incident(&self, id: &str) -> Option<String> {
        let i = self.board.incidents.iter().find(|i| i.id == id)?;
        Some(render(
            "incident.html",
            minijinja::context! {
                frame => frame(self.board, self.stale_since, &self.tz),
                incident => incident_view(self.board, i, self.now, &self.tz),
            },
        ))
    }

    /// `/history`: every incident and maintenance of the window, newest first, by month.
    pub fn history(&self) -> String {
        let mut months: Vec<(String, Vec<IncidentView>)> = Vec::new();
        for i in &self.board.incidents {
            let month = i
                .started_at
                .to_zoned(self.tz.clone())
                .strftime("%B %Y")
                .to_string();
            let v = incident_view(self.board, i, self.now, &self.tz);
            match months.last_mut() {
                Some((m, list)) if *m == month => list.push(v),
                _ => months.push((month, vec![v])),
            }
        }
        render(
            "history.html",
            minijinja::context! {
                frame => frame(self.board, self.stale_since, &self.tz),
                months => months,
                days => HISTORY_DAYS,
            },
        )
    }
}

/// What the "Having trouble?" form shows besides the components.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ReportForm {
    /// The signed token of this serving of the form.
    pub token: String,
    /// The component picked before (kept when the form comes back with an error).
    pub selected: Option<String>,
    pub what: String,
    /// The field that is wrong and what to do.
    pub error: Option<(String, String)>,
    /// The report was received.
    pub sent: bool,
}

impl Pages<'_> {
    /// The components a customer can pick on a form ("Group: Name"), each with whether it is
    /// `chosen` already.
    fn choices(&self, chosen: impl Fn(&str) -> bool) -> Vec<minijinja::Value> {
        self.board
            .leaf_components()
            .map(|c| {
                minijinja::context! {
                    id => c.id.clone(),
                    name => match c.group_id.as_deref().and_then(|g| self.board.component_name(g)) {
                        Some(g) => format!("{g}: {}", c.name),
                        None => c.name.clone(),
                    },
                    chosen => chosen(&c.id),
                }
            })
            .collect()
    }

    /// `/report`: the form, or its thank-you.
    pub fn report(&self, form: &ReportForm) -> String {
        let components = self.choices(|id| form.selected.as_deref() == Some(id));
        render(
            "report.html",
            minijinja::context! {
                frame => frame(self.board, self.stale_since, &self.tz),
                components => components,
                form => form,
                honeypot => super::report::HONEYPOT,
                max_text => super::report::MAX_TEXT,
            },
        )
    }
}

/// What the subscribe form shows besides the components.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SubscribeForm {
    pub token: String,
    pub email: String,
    /// Component ids ticked.
    pub picked: Vec<String>,
    /// The field that is wrong and what to do.
    pub error: Option<(String, String)>,
    /// The request was taken: "check your inbox".
    pub sent: bool,
}

/// A subscriber's own page (confirm, see, unsubscribe).
#[derive(Debug, Default, Clone, Serialize)]
pub struct SubscriptionView {
    pub heading: String,
    pub text: String,
    /// The components they hear about (names); empty with `everything`.
    pub components: Vec<String>,
    pub everything: bool,
    /// A form posting to this path with this button, when there is something to do.
    pub action: Option<String>,
    pub button: Option<String>,
    /// A second, quieter form (unsubscribe next to confirm).
    pub other_action: Option<String>,
    pub other_button: Option<String>,
}

impl Pages<'_> {
    /// `/subscribe`: the form, or "check your inbox".
    pub fn subscribe(&self, form: &SubscribeForm) -> String {
        let components = self.choices(|id| form.picked.iter().any(|p| p == id));
        render(
            "subscribe.html",
            minijinja::context! {
                frame => frame(self.board, self.stale_since, &self.tz),
                components => components,
                form => form,
                honeypot => super::report::HONEYPOT,
            },
        )
    }

    /// `/subscriptions/{token}`.
    pub fn subscription(&self, view: &SubscriptionView) -> String {
        render(
            "subscription.html",
            minijinja::context! {
                frame => frame(self.board, self.stale_since, &self.tz),
                view => view,
            },
        )
    }
}

/// The page served for an incident id that is not on the page.
pub fn not_found(board: &Board) -> String {
    let tz = TimeZone::get(&board.page.time_zone).unwrap_or(TimeZone::UTC);
    render(
        "incident.html",
        minijinja::context! {
            frame => frame(board, None, &tz),
            incident => minijinja::Value::from(()),
        },
    )
}
