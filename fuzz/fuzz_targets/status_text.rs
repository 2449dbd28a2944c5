//! Any text a seller types into the status page's admin API (component and group names,
//! incident names and update bodies) is either refused naming the field, or planned and then
//! rendered into every public surface (and the store advisory's text likewise): the page, the incident page, the history, the v2 JSON,
//! the feeds and the badge, never a panic, always escaped, the JSON always valid.
#![no_main]
use herald_core::status::plan::{NewAdvisory, NewComponent, NewIncident, Planner};
use herald_core::status::{
    Board, ComponentStatus, IncidentStatus, PageInfo, advisory, feeds, page, v2,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\u{1f}');
    let (a, b, c) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let now: jiff::Timestamp = "2026-11-23T15:00:00Z".parse().unwrap();
    let mut board = Board {
        page: PageInfo {
            id: "page00000001".into(),
            name: "Shop".into(),
            url: "https://status.shop.example".into(),
            time_zone: "America/New_York".into(),
        },
        components: vec![],
        incidents: vec![],
        history: Default::default(),
        advisory: None,
        read_at: now,
    };
    let mut n = 0;
    let mut ids = move || {
        n += 1;
        format!("id{n:010}")
    };
    let w = {
        let mut p = Planner { board: &board, now, promises: Default::default(), ids: &mut ids };
        p.add_component(&NewComponent {
            name: a.into(),
            group: (!b.is_empty()).then(|| b.to_string()),
            status: Some(ComponentStatus::PartialOutage),
            ..Default::default()
        })
    };
    let Ok(w) = w else {
        return;
    };
    board.components.extend(w.components);
    let comp = board.components.iter().find(|c| !c.is_group).unwrap().id.clone();
    let w = {
        let mut p = Planner { board: &board, now, promises: Default::default(), ids: &mut ids };
        p.open_incident(&NewIncident {
            name: b.into(),
            status: IncidentStatus::Investigating,
            impact: None,
            body: c.into(),
            components: vec![(comp, ComponentStatus::MajorOutage)],
            next_update_by: None,
            estimated_restore_at: None,
            started_at: None,
        })
    };
    let Ok(w) = w else {
        return;
    };
    let mut incident = w.incident.unwrap();
    incident.updates.push(w.update.unwrap());
    let id = incident.id.clone();
    board.incidents.push(incident);
    // The same text as the store advisory: refused naming the field, or shown escaped.
    let w = {
        let mut p = Planner { board: &board, now, promises: Default::default(), ids: &mut ids };
        p.set_advisory(&NewAdvisory { message: c.into(), ..Default::default() })
    };
    if let Ok(w) = w {
        board.advisory = w.advisory.flatten();
        let doc: serde_json::Value =
            serde_json::from_str(&advisory::json(&board, now)).expect("valid JSON");
        assert_eq!(doc["active"], true);
    }
    let pages = page::Pages::new(&board, now, None);
    for html in [pages.home(), pages.incident(&id).unwrap(), pages.history()] {
        assert!(!html.contains("<script"), "seller text is escaped");
    }
    let d = v2::Documents::new(&board);
    for doc in [d.summary_json(), d.incidents_json(), d.components_json()] {
        serde_json::from_str::<serde_json::Value>(&doc).expect("valid JSON");
    }
    for xml in [feeds::atom(&board), feeds::rss(&board)] {
        assert_eq!(xml.matches("<entry>").count() + xml.matches("<item>").count(), 1);
    }
    let _ = feeds::badge(&board);
});
