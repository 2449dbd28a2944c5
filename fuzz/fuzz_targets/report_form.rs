//! Whatever a browser, a bot or an attacker posts to the status page's "Having trouble?" form
//! or its subscribe form is read without a panic: refused naming a field, or a form whose
//! token check, component check and re-rendered page (what was typed, kept and escaped) all
//! hold.
#![no_main]
use herald_core::status::notice::{check_email, parse_subscribe};
use herald_core::status::page::{Pages, ReportForm as View, SubscribeForm};
use herald_core::status::report::{FormKey, parse_form};
use herald_core::status::{Board, Component, ComponentStatus, PageInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now: jiff::Timestamp = "2026-11-23T15:00:00Z".parse().unwrap();
    let subscribe = parse_subscribe(data);
    let Ok(form) = parse_form(data) else {
        return;
    };
    let _ = FormKey::new(b"fuzz").check(&form.token, now);
    let board = Board {
        page: PageInfo {
            id: "page00000001".into(),
            name: "Shop".into(),
            url: "https://status.shop.example".into(),
            time_zone: "America/New_York".into(),
        },
        components: vec![Component {
            id: "c0checkout01".into(),
            name: "Checkout".into(),
            description: None,
            group_id: None,
            is_group: false,
            position: 1,
            status: ComponentStatus::Operational,
            showcase: true,
            only_show_if_degraded: false,
            start_date: None,
            created_at: now,
            updated_at: now,
        }],
        incidents: vec![],
        history: Default::default(),
        advisory: None,
        read_at: now,
    };
    let known = form.check_component(&board).is_ok();
    assert!(known == form.component.as_deref().is_none_or(|c| c == "c0checkout01"));
    let html = Pages::new(&board, now, None).report(&View {
        token: form.token.clone(),
        selected: form.component.clone(),
        what: form.what.clone(),
        error: None,
        sent: false,
    });
    assert!(!html.to_ascii_lowercase().contains("<script"), "what was typed is escaped");
    if let Ok(sub) = subscribe {
        if let Ok(e) = check_email(&sub.email) {
            assert!(e.contains('@') && !e.contains(['<', '>', '"', ' ']));
        }
        let html = Pages::new(&board, now, None).subscribe(&SubscribeForm {
            token: sub.token,
            email: sub.email,
            picked: sub.components,
            error: None,
            sent: false,
        });
        assert!(!html.to_ascii_lowercase().contains("<script"), "what was typed is escaped");
    }
});
