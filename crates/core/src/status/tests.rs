//! Roll-up, promise and maintenance rules; the v2 documents' shapes; the pages and feeds.

use super::*;
use ComponentStatus as C;
use proptest::prelude::*;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn one_component_speaks_for_itself() {
    let d = |s| components_roll_up(&[s]).description;
    assert_eq!(d(C::Operational), "All Systems Operational");
    assert_eq!(d(C::UnderMaintenance), "Service Under Maintenance");
    assert_eq!(d(C::DegradedPerformance), "Partially Degraded Service");
    assert_eq!(d(C::PartialOutage), "Partial System Outage");
    assert_eq!(d(C::MajorOutage), "Major System Outage");
    assert_eq!(
        components_roll_up(&[]).description,
        "All Systems Operational"
    );
}

#[test]
fn several_components_blend_one_step_down_unless_all_share_it() {
    let r = |s: &[ComponentStatus]| {
        let p = components_roll_up(s);
        (p.indicator.as_str(), p.description)
    };
    assert_eq!(
        r(&[C::MajorOutage, C::MajorOutage]),
        ("critical", "Major System Outage")
    );
    assert_eq!(
        r(&[C::MajorOutage, C::Operational]),
        ("major", "Partial System Outage")
    );
    assert_eq!(
        r(&[C::PartialOutage, C::PartialOutage]),
        ("major", "Partial System Outage")
    );
    assert_eq!(
        r(&[C::PartialOutage, C::Operational]),
        ("minor", "Minor Service Outage")
    );
    assert_eq!(
        r(&[C::DegradedPerformance, C::DegradedPerformance]),
        ("minor", "Degraded System Service")
    );
    assert_eq!(
        r(&[C::DegradedPerformance, C::UnderMaintenance]),
        ("minor", "Partially Degraded Service")
    );
    assert_eq!(
        r(&[C::UnderMaintenance, C::Operational]),
        ("maintenance", "Service Under Maintenance")
    );
    assert_eq!(r(&[C::Operational; 3]), ("none", "All Systems Operational"));
}

#[test]
fn an_open_incident_raises_the_page_even_with_every_component_green() {
    let p = roll_up(&[C::Operational, C::Operational], [Impact::Critical], false);
    assert_eq!(
        (p.indicator, p.description),
        (Indicator::Critical, "Major Service Outage")
    );
    let p = roll_up(&[C::Operational], [Impact::None], false);
    assert_eq!(p, ALL_OPERATIONAL);
    let p = roll_up(&[C::Operational], [], true);
    assert_eq!(p.indicator, Indicator::Maintenance);
    // A tie keeps the components' (more specific) wording.
    let p = roll_up(&[C::MajorOutage, C::MajorOutage], [Impact::Critical], false);
    assert_eq!(p.description, "Major System Outage");
}

fn status_strategy() -> impl Strategy<Value = ComponentStatus> {
    (0usize..5).prop_map(|i| ComponentStatus::ALL[i])
}

fn impact_strategy() -> impl Strategy<Value = Impact> {
    (0usize..4).prop_map(|i| Impact::ALL[i])
}

proptest! {
    /// Making one component worse never makes the page look better.
    #[test]
    fn a_worse_component_never_lowers_the_indicator(
        mut statuses in proptest::collection::vec(status_strategy(), 1..8),
        idx in any::<prop::sample::Index>(),
        one in status_strategy(),
        other in status_strategy(),
        impacts in proptest::collection::vec(impact_strategy(), 0..3),
    ) {
        // The component goes from the better of two statuses to the worse (ordered here
        // rather than filtered, so that no generated case is thrown away).
        let (better, worse) =
            if one.rank() <= other.rank() { (one, other) } else { (other, one) };
        let i = idx.index(statuses.len());
        statuses[i] = better;
        let before = roll_up(&statuses, impacts.clone(), false);
        statuses[i] = worse;
        let after = roll_up(&statuses, impacts, false);
        prop_assert!(after.indicator >= before.indicator, "{before:?} -> {after:?}");
    }

    /// The page is green exactly when every component is operational and no open incident
    /// has an impact; the order of components does not matter.
    #[test]
    fn all_green_means_nothing_wrong(
        statuses in proptest::collection::vec(status_strategy(), 0..8),
        impacts in proptest::collection::vec(impact_strategy(), 0..3),
    ) {
        let p = roll_up(&statuses, impacts.clone(), false);
        let nothing_wrong = statuses.iter().all(|s| *s == C::Operational)
            && impacts.iter().all(|i| *i == Impact::None);
        prop_assert_eq!(p == ALL_OPERATIONAL, nothing_wrong);
        let mut rev = statuses.clone();
        rev.reverse();
        prop_assert_eq!(roll_up(&rev, impacts, false), p);
    }

    /// An incident's impact only rises unless the seller sets it.
    #[test]
    fn impact_never_falls_by_itself(
        prev in impact_strategy(),
        now in proptest::collection::vec(status_strategy(), 0..5),
    ) {
        prop_assert!(incident_impact(prev, None, now.clone()) >= prev);
        prop_assert_eq!(incident_impact(prev, Some(Impact::None), now), Impact::None);
    }

    /// Reminders: none before the warning, "soon" inside it, then one "missed" key per
    /// repeat period, each key stable within its period.
    #[test]
    fn promise_reminders_follow_the_clock(mins_after_post in 0i64..600, promise_mins in 1i64..240) {
        let policy = PromisePolicy::default();
        let posted = at("2026-11-23T15:00:00Z");
        let due = policy.next_update_by(posted, Some(posted + SignedDuration::from_mins(promise_mins)));
        let i = incident_with_update(posted, due);
        let now = posted + SignedDuration::from_mins(mins_after_post);
        let r = policy.reminder(&i, now);
        if now < due - policy.warn_before {
            prop_assert!(r.is_none());
        } else if now < due {
            let r = r.unwrap();
            prop_assert_eq!(r.kind, "incident_update_due");
            prop_assert!(r.dedupe_key.ends_with(":soon"));
        } else {
            let r = r.unwrap();
            prop_assert_eq!(r.kind, "incident_update_missed");
            prop_assert!(r.due_at <= now && now < r.due_at + policy.repeat);
            let again = policy.reminder(&i, r.due_at).unwrap();
            prop_assert_eq!(again.dedupe_key, r.dedupe_key);
        }
    }
}

fn incident_with_update(posted: Timestamp, due: Timestamp) -> Incident {
    Incident {
        id: "inc1".into(),
        name: "Checkout errors".into(),
        status: IncidentStatus::Investigating,
        impact: Impact::Major,
        created_at: posted,
        updated_at: posted,
        started_at: posted,
        monitoring_at: None,
        resolved_at: None,
        scheduled_for: None,
        scheduled_until: None,
        component_ids: vec![],
        updates: vec![IncidentUpdate {
            id: "upd1".into(),
            status: IncidentStatus::Investigating,
            body: "Looking into it".into(),
            created_at: posted,
            display_at: posted,
            affected_components: vec![],
            next_update_by: Some(due),
            estimated_restore_at: None,
        }],
    }
}

#[test]
fn the_default_promise_is_thirty_minutes_and_a_past_promise_is_ignored() {
    let p = PromisePolicy::default();
    let t = at("2026-11-23T15:00:00Z");
    assert_eq!(p.next_update_by(t, None), at("2026-11-23T15:30:00Z"));
    assert_eq!(
        p.next_update_by(t, Some(at("2026-11-23T14:00:00Z"))),
        at("2026-11-23T15:30:00Z")
    );
    assert_eq!(
        p.next_update_by(t, Some(at("2026-11-23T16:00:00Z"))),
        at("2026-11-23T16:00:00Z")
    );
    // A resolved incident owes nothing.
    let mut i = incident_with_update(t, at("2026-11-23T15:30:00Z"));
    i.status = IncidentStatus::Resolved;
    assert_eq!(p.reminder(&i, at("2026-11-23T18:00:00Z")), None);
}

#[test]
fn maintenance_moves_on_by_itself() {
    let mut m = incident_with_update(at("2026-11-20T00:00:00Z"), at("2026-11-20T00:30:00Z"));
    m.status = IncidentStatus::Scheduled;
    m.scheduled_for = Some(at("2026-11-23T02:00:00Z"));
    m.scheduled_until = Some(at("2026-11-23T04:00:00Z"));
    assert_eq!(maintenance_step(&m, at("2026-11-23T01:59:59Z")), None);
    assert_eq!(
        maintenance_step(&m, at("2026-11-23T02:00:00Z")),
        Some(IncidentStatus::InProgress)
    );
    assert_eq!(
        maintenance_step(&m, at("2026-11-23T05:00:00Z")),
        Some(IncidentStatus::Completed),
        "a window missed entirely still ends"
    );
    m.status = IncidentStatus::Verifying;
    assert_eq!(
        maintenance_step(&m, at("2026-11-23T04:00:00Z")),
        Some(IncidentStatus::Completed)
    );
    m.status = IncidentStatus::Completed;
    assert_eq!(maintenance_step(&m, at("2026-11-24T00:00:00Z")), None);
}

#[test]
fn statuses_parse_only_their_own_values() {
    assert_eq!(C::parse("partial_outage"), Ok(C::PartialOutage));
    assert!(C::parse("down").unwrap_err().contains("major_outage"));
    assert!(IncidentStatus::parse("scheduled", false).is_err());
    assert!(IncidentStatus::parse("identified", true).is_err());
    assert_eq!(
        IncidentStatus::parse("in_progress", true),
        Ok(IncidentStatus::InProgress)
    );
    assert!(Impact::parse("severe").is_err());
}

/// A small page: a group of two, one loose component, an open incident with two updates,
/// a resolved one, an upcoming maintenance.
pub(crate) fn sample_board() -> Board {
    let t = at("2026-11-23T15:00:00Z");
    let comp = |id: &str, name: &str, group: Option<&str>, is_group, pos, status| Component {
        id: id.into(),
        name: name.into(),
        description: None,
        group_id: group.map(str::to_string),
        is_group,
        position: pos,
        status,
        showcase: true,
        only_show_if_degraded: false,
        start_date: None,
        created_at: at("2026-08-01T12:00:00Z"),
        updated_at: t,
    };
    let mut open = incident_with_update(t, at("2026-11-23T15:30:00Z"));
    open.id = "k3m9q2x7p1ab".into();
    open.name = "Checkout <fails> for some cards".into();
    open.component_ids = vec!["c0checkout01".into()];
    open.updates.insert(
        0,
        IncidentUpdate {
            id: "u2".into(),
            status: IncidentStatus::Identified,
            body: "Our card processor is failing; PayPal still works.".into(),
            created_at: at("2026-11-23T15:20:00Z"),
            display_at: at("2026-11-23T15:20:00Z"),
            affected_components: vec![AffectedComponent {
                code: "c0checkout01".into(),
                name: "Checkout".into(),
                old_status: C::DegradedPerformance,
                new_status: C::PartialOutage,
            }],
            next_update_by: Some(at("2026-11-23T15:50:00Z")),
            estimated_restore_at: Some(at("2026-11-23T17:00:00Z")),
        },
    );
    open.updated_at = at("2026-11-23T15:20:00Z");
    let mut done = incident_with_update(at("2026-11-20T10:00:00Z"), at("2026-11-20T10:30:00Z"));
    done.id = "r8r8r8r8r8r8".into();
    done.name = "Slow tracking pages".into();
    done.status = IncidentStatus::Resolved;
    done.impact = Impact::Minor;
    done.resolved_at = Some(at("2026-11-20T11:00:00Z"));
    done.updated_at = at("2026-11-20T11:00:00Z");
    let mut maint = incident_with_update(at("2026-11-22T09:00:00Z"), at("2026-11-22T09:30:00Z"));
    maint.id = "m1m1m1m1m1m1".into();
    maint.name = "Database upgrade".into();
    maint.status = IncidentStatus::Scheduled;
    maint.impact = Impact::None;
    maint.scheduled_for = Some(at("2026-11-25T07:00:00Z"));
    maint.scheduled_until = Some(at("2026-11-25T08:00:00Z"));
    maint.updates[0].status = IncidentStatus::Scheduled;
    maint.updates[0].next_update_by = None;
    maint.updated_at = at("2026-11-22T09:00:00Z");
    let mut history = std::collections::BTreeMap::new();
    history.insert(
        "c0checkout01".to_string(),
        vec![
            StatusChange {
                at: at("2026-08-01T12:00:00Z"),
                status: C::Operational,
            },
            StatusChange {
                at: t,
                status: C::DegradedPerformance,
            },
            StatusChange {
                at: at("2026-11-23T15:20:00Z"),
                status: C::PartialOutage,
            },
        ],
    );
    Board {
        page: PageInfo {
            id: "hrld0page001".into(),
            name: "Sandstone Pottery".into(),
            url: "https://status.sandstone.example".into(),
            time_zone: "America/New_York".into(),
        },
        components: vec![
            comp("g0store00001", "Store front", None, true, 1, C::Operational),
            comp(
                "c0checkout01",
                "Checkout",
                Some("g0store00001"),
                false,
                2,
                C::PartialOutage,
            ),
            comp(
                "c0browse0001",
                "Browsing",
                Some("g0store00001"),
                false,
                3,
                C::Operational,
            ),
            comp(
                "c0tracking01",
                "Order tracking",
                None,
                false,
                4,
                C::Operational,
            ),
        ],
        incidents: vec![open, maint, done],
        history,
        advisory: None,
        read_at: at("2026-11-23T15:25:00Z"),
    }
}

#[test]
fn v2_documents_keep_statuspage_shapes() {
    let b = sample_board();
    let d = v2::Documents::new(&b);
    // Re-indents without reordering: the snapshots keep the documents' own field order.
    let pretty = |s: String| {
        let (mut out, mut depth, mut in_str, mut esc) = (String::new(), 0usize, false, false);
        let nl = |out: &mut String, d: usize| {
            out.push('\n');
            out.push_str(&"  ".repeat(d));
        };
        for ch in s.chars() {
            if in_str {
                out.push(ch);
                match (esc, ch) {
                    (true, _) => esc = false,
                    (false, '\\') => esc = true,
                    (false, '"') => in_str = false,
                    _ => {}
                }
                continue;
            }
            match ch {
                '"' => {
                    in_str = true;
                    out.push(ch);
                }
                '{' | '[' => {
                    depth += 1;
                    out.push(ch);
                    nl(&mut out, depth);
                }
                '}' | ']' => {
                    depth -= 1;
                    nl(&mut out, depth);
                    out.push(ch);
                }
                ',' => {
                    out.push(ch);
                    nl(&mut out, depth);
                }
                ':' => out.push_str(": "),
                c => out.push(c),
            }
        }
        out
    };
    insta::assert_snapshot!("summary", pretty(d.summary_json()));
    insta::assert_snapshot!("status", pretty(d.status_json()));
    insta::assert_snapshot!("components", pretty(d.components_json()));
    insta::assert_snapshot!("incidents", pretty(d.incidents_json()));
    insta::assert_snapshot!("upcoming", pretty(d.upcoming_json()));
}

#[test]
fn v2_documents_are_what_statuspage_clients_read() {
    let b = sample_board();
    let d = v2::Documents::new(&b);
    let v: serde_json::Value = serde_json::from_str(&d.summary_json()).unwrap();
    let keys = |o: &serde_json::Value| {
        o.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
    };
    for k in ["id", "name", "url", "time_zone", "updated_at"] {
        assert!(keys(&v["page"]).contains(k), "page.{k}");
    }
    assert_eq!(v["page"]["updated_at"], "2026-11-23T10:20:00.000-05:00");
    for k in [
        "id",
        "name",
        "status",
        "created_at",
        "updated_at",
        "position",
        "description",
        "showcase",
        "start_date",
        "group_id",
        "page_id",
        "group",
        "only_show_if_degraded",
    ] {
        assert!(keys(&v["components"][0]).contains(k), "component.{k}");
    }
    // A group shows its worst member and lists them.
    assert_eq!(v["components"][0]["group"], true);
    assert_eq!(v["components"][0]["status"], "partial_outage");
    assert_eq!(v["components"][0]["components"][0], "c0checkout01");
    assert_eq!(
        v["status"]["indicator"], "major",
        "the open incident's impact outranks the components"
    );
    assert_eq!(v["status"]["description"], "Partial System Outage");
    let inc = &v["incidents"][0];
    for k in [
        "id",
        "name",
        "status",
        "created_at",
        "updated_at",
        "monitoring_at",
        "resolved_at",
        "impact",
        "shortlink",
        "started_at",
        "page_id",
        "incident_updates",
        "components",
    ] {
        assert!(keys(inc).contains(k), "incident.{k}");
    }
    assert_eq!(
        inc["incident_updates"][0]["affected_components"][0]["old_status"],
        "degraded_performance"
    );
    assert_eq!(
        inc["incident_updates"][1]["affected_components"],
        serde_json::Value::Null
    );
    assert_eq!(inc["next_update_by"], "2026-11-23T10:50:00.000-05:00");
    assert_eq!(
        v["scheduled_maintenances"][0]["scheduled_for"],
        "2026-11-25T02:00:00.000-05:00"
    );
    // Only unresolved incidents in the summary; all of them in incidents.json.
    assert_eq!(v["incidents"].as_array().unwrap().len(), 1);
    let all: serde_json::Value = serde_json::from_str(&d.incidents_json()).unwrap();
    assert_eq!(all["incidents"].as_array().unwrap().len(), 2);
    let active: serde_json::Value = serde_json::from_str(&d.active_json()).unwrap();
    assert_eq!(
        active["scheduled_maintenances"].as_array().unwrap().len(),
        0
    );
}

#[test]
fn the_page_tells_the_promise_its_age_and_the_restore_estimate() {
    let b = sample_board();
    let html = page::Pages::new(&b, at("2026-11-23T15:40:00Z"), None).home();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.to_ascii_lowercase().contains("<script"));
    assert!(html.contains("Partial System Outage"));
    assert!(
        html.contains("Checkout &lt;fails&gt; for some cards"),
        "escaped"
    );
    assert!(html.contains("Last update 20 minutes ago."), "{html}");
    assert!(html.contains("Next update by 10:50 AM EST (in 10 minutes)."));
    assert!(html.contains("Estimated restore: Nov 23, 12:00 PM EST."));
    assert!(html.contains("Database upgrade"));
    assert!(html.contains("Slow tracking pages"));
    assert!(html.contains("prefers-color-scheme: dark"));
    assert!(html.contains("name=\"viewport\""));
    assert_eq!(
        html.matches("class=\"bar\"").count(),
        3,
        "one bar per component"
    );
    // Late: the page says so.
    let late = page::Pages::new(&b, at("2026-11-23T16:05:00Z"), None).home();
    assert!(late.contains("it is 15 minutes late"), "{late}");
    // Stale: the page says since when.
    let stale = page::Pages::new(
        &b,
        at("2026-11-23T16:05:00Z"),
        Some(at("2026-11-23T15:58:00Z")),
    )
    .home();
    assert!(stale.contains("could not be refreshed since"));
    let one = page::Pages::new(&b, at("2026-11-23T15:40:00Z"), None);
    assert!(
        one.incident("k3m9q2x7p1ab")
            .unwrap()
            .contains("Our card processor is failing")
    );
    assert!(one.incident("nope").is_none());
    assert!(one.history().contains("November 2026"));
}

#[test]
fn feeds_and_badge_escape_what_the_seller_typed() {
    let b = sample_board();
    let atom = feeds::atom(&b);
    assert!(atom.contains("<title>Checkout &lt;fails&gt; for some cards</title>"));
    let rss = feeds::rss(&b);
    assert!(rss.contains("<pubDate>Mon, 23 Nov 2026 15:00:00 +0000</pubDate>"));
    let parsed = feed_rs::parser::parse(atom.as_bytes()).expect("valid Atom");
    assert_eq!(parsed.entries.len(), 3);
    let parsed = feed_rs::parser::parse(rss.as_bytes()).expect("valid RSS");
    assert_eq!(parsed.entries.len(), 3);
    let badge = feeds::badge(&b);
    assert!(badge.starts_with("<svg"));
    assert!(badge.contains("Partial System Outage"));
    assert_eq!(
        feeds::xml_escape("a\u{1}<b>&\"'"),
        "a&lt;b&gt;&amp;&quot;&apos;"
    );
}

#[test]
fn the_advisory_is_one_honest_line_and_clears_once() {
    let mut b = sample_board();
    let now = at("2026-11-23T15:40:00Z");
    let mut n = 0;
    let mut ids = move || {
        n += 1;
        format!("id{n:010}")
    };
    let mut p = plan::Planner {
        board: &b,
        now,
        promises: PromisePolicy::default(),
        ids: &mut ids,
    };
    let field = |r: Result<plan::StatusWrite, plan::PlanError>| r.unwrap_err().field;
    let ask = |message: &str, until: Option<&str>, expires: Option<&str>| plan::NewAdvisory {
        message: message.into(),
        level: None,
        until: until.map(at),
        expires_at: expires.map(at),
    };
    assert_eq!(field(p.set_advisory(&ask("  ", None, None))), "message");
    assert_eq!(
        field(p.set_advisory(&ask("two\nlines", None, None))),
        "message"
    );
    assert_eq!(
        field(p.set_advisory(&ask(&"x".repeat(301), None, None))),
        "message"
    );
    assert_eq!(
        field(p.set_advisory(&ask(
            "Ordering is paused",
            Some("2026-11-23T15:00:00Z"),
            None
        ))),
        "until"
    );
    assert_eq!(
        field(p.set_advisory(&ask(
            "Ordering is paused",
            None,
            Some("2026-11-23T15:39:00Z")
        ))),
        "expires_at"
    );
    let e = p.clear_advisory().unwrap_err();
    assert!(e.missing, "nothing to clear is a 404");
    let w = p
        .set_advisory(&ask(
            "Browsing works; ordering is paused",
            Some("2026-11-23T20:00:00Z"),
            Some("2026-11-23T21:00:00Z"),
        ))
        .unwrap();
    let a = w.advisory.clone().unwrap().unwrap();
    assert_eq!(
        a.level,
        advisory::AdvisoryLevel::Warning,
        "the default level"
    );
    assert_eq!(a.updated_at, now);
    assert!(w.incident.is_none() && w.components.is_empty());
    b.advisory = Some(a);

    // Shown on the page and in the JSON, in the page's time zone.
    let html = page::Pages::new(&b, now, None).home();
    assert!(
        html.contains(
            "Store notice:</strong> Browsing works; ordering is paused (until about 3:00 PM EST)"
        ),
        "{html}"
    );
    let doc: serde_json::Value = serde_json::from_str(&advisory::json(&b, now)).unwrap();
    assert_eq!(doc["active"], true);
    assert_eq!(doc["level"], "warning");
    assert_eq!(doc["until"], "2026-11-23T15:00:00.000-05:00");
    assert_eq!(doc["until_text"], "until about 3:00 PM EST");
    assert_eq!(doc["status"]["description"], "Partial System Outage");
    assert_eq!(doc["page"]["url"], b.page.url.as_str());

    // Past its expiry it is gone from both, without anyone clearing it.
    let later = at("2026-11-23T21:00:00Z");
    assert!(
        !page::Pages::new(&b, later, None)
            .home()
            .contains("Store notice")
    );
    let doc: serde_json::Value = serde_json::from_str(&advisory::json(&b, later)).unwrap();
    assert_eq!(doc["active"], false);
    assert!(doc["message"].is_null());

    let mut ids = || "x".to_string();
    let mut p = plan::Planner {
        board: &b,
        now,
        promises: PromisePolicy::default(),
        ids: &mut ids,
    };
    assert_eq!(p.clear_advisory().unwrap().advisory, Some(None));
}

#[test]
fn the_advisory_script_never_writes_html() {
    let js = advisory::SCRIPT;
    assert!(js.contains("textContent"));
    assert!(
        !js.contains("innerHTML")
            && !js.contains("insertAdjacentHTML")
            && !js.contains("document.write")
    );
    assert!(js.contains("/api/v1/advisory"));
    assert!(js.contains("credentials: \"omit\""));
}

#[test]
fn the_report_form_asks_for_nothing_personal_and_keeps_what_was_typed() {
    let b = sample_board();
    let p = page::Pages::new(&b, at("2026-11-23T15:40:00Z"), None);
    let html = p.report(&page::ReportForm {
        token: "1763912400.00ff".into(),
        selected: Some("c0checkout01".into()),
        what: "Card <declined>".into(),
        error: Some(("what".into(), "Please use plain text.".into())),
        sent: false,
    });
    assert!(!html.to_ascii_lowercase().contains("<script"));
    assert!(html.contains("name=\"token\" value=\"1763912400.00ff\""));
    assert!(
        html.contains("name=\"website\""),
        "the hidden field bots fill in"
    );
    assert!(
        html.contains("<option value=\"c0checkout01\" selected>"),
        "{html}"
    );
    assert!(html.contains("Card &lt;declined&gt;</textarea>"));
    assert!(html.contains("role=\"alert\""));
    assert!(html.contains("aria-invalid=\"true\""));
    assert!(!html.contains("type=\"email\"") && !html.contains("name=\"name\""));
    let thanks = p.report(&page::ReportForm {
        sent: true,
        ..Default::default()
    });
    assert!(thanks.contains("Thank you"));
    assert!(!thanks.contains("<form"));
    assert!(p.home().contains("href=\"/report\""));
}
