//! The storage conformance suite: every test runs against SQLite and against PostgreSQL.
//!
//! PostgreSQL comes from `HERALD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test gets a fresh database. With
//! `CI=true` an unreachable PostgreSQL fails the run; elsewhere those tests skip with a note.

use herald_core::deadline::{ShipByPolicy, ShipByState};
use herald_core::order::{NewOrder, OrderInput, OrderState};
use herald_store::{Cursor, OrderFilter, Store, StoreOptions, UpsertOutcome};
use jiff::Timestamp;
use std::sync::Arc;

struct Db {
    store: Arc<dyn Store>,
    url: String,
    _dir: Option<tempdir::Dir>,
    pg_admin: Option<(String, String)>,
}

mod tempdir {
    /// A directory removed when dropped (kept tiny to avoid a dependency).
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_admin.take() {
            // Best effort: a leftover test database is harmless.
            let _ = std::process::Command::new("psql")
                .args([
                    &admin,
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .output();
        }
    }
}

async fn sqlite() -> Option<Db> {
    let dir = std::env::temp_dir().join(format!("herald-conf-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/herald.db", dir.display());
    let store = herald_store::open(&url, &StoreOptions::default())
        .await
        .unwrap();
    Some(Db {
        store,
        url,
        _dir: Some(tempdir::Dir(dir)),
        pg_admin: None,
    })
}

async fn postgres() -> Option<Db> {
    let admin = std::env::var("HERALD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
    let created = async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await?;
        Ok::<_, sqlx::Error>(())
    }
    .await;
    if let Err(e) = created {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("PostgreSQL is required in CI but {admin} is unreachable: {e}");
        }
        eprintln!("skipping PostgreSQL conformance test: {admin} is unreachable ({e})");
        return None;
    }
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => unreachable!(),
    };
    let store = herald_store::open(&url, &StoreOptions::default())
        .await
        .unwrap();
    Some(Db {
        store,
        url,
        _dir: None,
        pg_admin: Some((admin, name)),
    })
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(db) = super::sqlite().await { super::$name(&db).await }
            })*
        }
        mod on_postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(db) = super::postgres().await { super::$name(&db).await }
            })*
        }
    };
}

conformance!(
    resent_orders_are_recognised_not_duplicated,
    a_late_old_update_never_moves_an_order_backwards,
    repeats_within_one_batch_become_one_order,
    filters_and_cursor_pagination,
    at_risk_and_late_alerts_are_raised_once,
    shipping_performance_rates,
    api_tokens_store_only_hashes_and_can_be_revoked,
    concurrent_writers_of_the_same_orders_never_duplicate,
    reopening_keeps_everything,
    large_batches_record_every_event,
    tracking_events_are_stored_once_and_early_ones_attach_to_the_shipment,
    a_stalled_parcel_opens_one_case_that_the_seller_works_and_delivery_closes,
    the_sweep_reads_only_due_shipments,
    a_next_check_moved_a_little_stays_and_is_never_late,
    a_shipment_from_before_digests_is_judged_on_all_its_events,
    a_large_batch_is_judged_as_its_events_one_at_a_time,
    concurrent_batches_for_the_same_parcels_store_each_event_once,
    a_shipment_recorded_after_its_delivery_owes_the_delivered_notice_once,
    two_nodes_sweeping_never_open_a_case_twice,
    any_arrival_order_of_events_gives_the_same_status_history_and_cases,
    webhooks_are_kept_and_unreadable_ones_are_dead_letters,
    every_step_owes_its_customer_one_message,
    two_workers_never_claim_the_same_message,
    dead_messages_are_kept_and_can_be_retried,
    the_sellers_templates_are_kept,
    hard_bounces_make_an_address_undeliverable_once,
    alerts_and_messages_reach_the_seller_and_subscribed_endpoints,
    offer_codes_are_handed_out_once_each,
    the_status_page_is_written_whole_and_read_back,
    two_nodes_changing_the_status_page_at_once_never_interleave,
    the_store_advisory_is_declared_replaced_and_cleared,
    problem_reports_are_kept_and_the_form_key_is_shared,
    each_update_reaches_each_subscriber_who_wants_it_once,
    postgres_tells_listeners_of_each_status_change,
    mail_lists_are_left_with_their_token,
);

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn order(ext: &str, placed: &str) -> OrderInput {
    OrderInput {
        channel: "shopify".into(),
        external_id: ext.into(),
        number: Some(format!("#{ext}")),
        placed_at: placed.into(),
        customer: herald_core::order::Customer {
            name: Some("Jane Doe".into()),
            email: Some("jane@shopper.test".into()),
            phone: None,
        },
        items: vec![herald_core::order::LineItem {
            sku: Some("MUG".into()),
            name: "Mug".into(),
            quantity: 1,
            quantity_shipped: 0,
            price: Some("12.00".into()),
        }],
        ..Default::default()
    }
}

fn ok(i: OrderInput) -> NewOrder {
    i.validate().unwrap()
}

fn policy() -> ShipByPolicy {
    ShipByPolicy {
        time_zone: jiff::tz::TimeZone::get("America/New_York").unwrap(),
        ..ShipByPolicy::default()
    }
}

const NOW: &str = "2025-12-03T12:00:00Z";

async fn resent_orders_are_recognised_not_duplicated(db: &Db) {
    let s = &db.store;
    let batch = vec![
        ok(order("1", "2025-12-01T15:00:00Z")),
        ok(order("2", "2025-12-01T16:00:00Z")),
    ];
    let first = s.upsert_orders(&batch, &policy(), ts(NOW)).await.unwrap();
    assert!(first.iter().all(|u| u.outcome == UpsertOutcome::Created));
    let again = s.upsert_orders(&batch, &policy(), ts(NOW)).await.unwrap();
    assert!(again.iter().all(|u| u.outcome == UpsertOutcome::Unchanged));
    assert_eq!(
        first.iter().map(|u| u.id).collect::<Vec<_>>(),
        again.iter().map(|u| u.id).collect::<Vec<_>>()
    );
    assert_eq!(s.count_orders().await.unwrap(), 2);
    let o = s.get_order(first[0].id, ts(NOW)).await.unwrap().unwrap();
    assert_eq!(o.facts.number, "#1");
    assert_eq!(o.facts.customer.email.as_deref(), Some("jane@shopper.test"));
    assert_eq!(o.state, OrderState::Placed);
    assert!(s.get_order(999_999, ts(NOW)).await.unwrap().is_none());
}

async fn a_late_old_update_never_moves_an_order_backwards(db: &Db) {
    let s = &db.store;
    let mut shipped = order("10", "2025-12-01T15:00:00Z");
    shipped.paid_at = Some("2025-12-01T15:01:00Z".into());
    shipped.shipped_at = Some("2025-12-02T15:00:00Z".into());
    let id = s
        .upsert_orders(&[ok(shipped)], &policy(), ts(NOW))
        .await
        .unwrap()[0]
        .id;
    let mut old = order("10", "2025-12-01T15:00:00Z");
    old.paid_at = Some("2025-12-01T15:01:00Z".into());
    old.customer.name = Some("Old Name".into());
    let u = s
        .upsert_orders(&[ok(old)], &policy(), ts(NOW))
        .await
        .unwrap();
    assert_eq!(u[0].id, id);
    let o = s.get_order(id, ts(NOW)).await.unwrap().unwrap();
    assert_eq!(o.state, OrderState::Shipped);
    assert_eq!(o.ship_by_state, Some(ShipByState::ShippedOnTime));
    let kinds: Vec<_> = s
        .order_events(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds, ["placed", "paid", "partially_shipped", "shipped"]);
}

async fn repeats_within_one_batch_become_one_order(db: &Db) {
    let s = &db.store;
    let a = ok(order("20", "2025-12-01T15:00:00Z"));
    let mut b = order("20", "2025-12-01T15:00:00Z");
    b.paid_at = Some("2025-12-01T15:30:00Z".into());
    let u = s
        .upsert_orders(&[a, ok(b)], &policy(), ts(NOW))
        .await
        .unwrap();
    assert_eq!(u[0].id, u[1].id);
    assert_eq!(s.count_orders().await.unwrap(), 1);
    let o = s.get_order(u[0].id, ts(NOW)).await.unwrap().unwrap();
    assert_eq!(o.state, OrderState::Paid);
}

async fn filters_and_cursor_pagination(db: &Db) {
    let s = &db.store;
    // Tuesday 2025-12-02 10:00 EST with 2 handling days: due Thursday 12-04 23:59:59 EST,
    // at risk from Thursday 13:00 EST.
    let mut batch = Vec::new();
    for i in 0..25 {
        batch.push(ok(order(&format!("p{i}"), "2025-12-02T15:00:00Z")));
    }
    // Late: placed the week before.
    for i in 0..5 {
        batch.push(ok(order(&format!("l{i}"), "2025-11-24T15:00:00Z")));
    }
    let mut amazon = order("a1", "2025-12-02T15:00:00Z");
    amazon.channel = "amazon".into();
    batch.push(ok(amazon));
    let mut shipped = order("s1", "2025-12-01T15:00:00Z");
    shipped.shipped_at = Some("2025-12-02T12:00:00Z".into());
    batch.push(ok(shipped));
    s.upsert_orders(&batch, &policy(), ts(NOW)).await.unwrap();

    let at = ts("2025-12-04T19:00:00Z"); // Thursday 14:00 EST
    let list = |f: OrderFilter| async move { s.list_orders(&f, at).await.unwrap() };
    let at_risk = list(OrderFilter {
        ship_by_state: Some(ShipByState::AtRisk),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(at_risk.items.len(), 26);
    assert!(
        at_risk
            .items
            .iter()
            .all(|o| o.ship_by_state == Some(ShipByState::AtRisk))
    );
    let late = list(OrderFilter {
        ship_by_state: Some(ShipByState::Late),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(late.items.len(), 5);
    let shipped = list(OrderFilter {
        ship_by_state: Some(ShipByState::ShippedOnTime),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(shipped.items.len(), 1);
    let on_amazon = list(OrderFilter {
        channel: Some("amazon".into()),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(on_amazon.items.len(), 1);
    let shipped_state = list(OrderFilter {
        state: Some(OrderState::Shipped),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(shipped_state.items[0].facts.external_id, "s1");
    let placed_range = list(OrderFilter {
        placed_from: Some(ts("2025-11-20T00:00:00Z")),
        placed_to: Some(ts("2025-11-30T00:00:00Z")),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(placed_range.items.len(), 5);

    // Walk every page of both orderings: each order exactly once.
    for sbs in [None, Some(ShipByState::AtRisk)] {
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor: Option<Cursor> = None;
        let mut pages = 0;
        loop {
            let page = list(OrderFilter {
                ship_by_state: sbs,
                cursor,
                limit: 7,
                ..Default::default()
            })
            .await;
            pages += 1;
            for o in &page.items {
                assert!(seen.insert(o.id), "order {} listed twice", o.id);
            }
            match page.next_cursor {
                Some(c) => cursor = Some(Cursor::parse(&c).unwrap()),
                None => break,
            }
        }
        let want = if sbs.is_some() { 26 } else { 32 };
        assert_eq!(seen.len(), want);
        assert_eq!(pages, want.div_ceil(7));
    }

    // A date range comes newest placed first (ties by id), page after page, each order once;
    // most of these were placed in the same instant.
    let mut listed = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = list(OrderFilter {
            placed_from: Some(ts("2025-11-20T00:00:00Z")),
            placed_to: Some(ts("2025-12-10T00:00:00Z")),
            cursor,
            limit: 7,
            ..Default::default()
        })
        .await;
        listed.extend(page.items.iter().map(|o| (o.facts.placed_at, o.id)));
        assert!(listed.len() <= 32, "pages repeat: {listed:?}");
        match page.next_cursor {
            Some(c) => {
                assert!(c.starts_with('p'), "a placed-date cursor: {c}");
                cursor = Some(Cursor::parse(&c).unwrap());
            }
            None => break,
        }
    }
    assert_eq!(listed.len(), 32);
    assert!(
        listed.windows(2).all(|w| w[0] > w[1]),
        "newest placed first, each once: {listed:?}"
    );
    assert_eq!(listed.last().unwrap().0, ts("2025-11-24T15:00:00Z"));

    // Shipped after its deadline (placed Monday the 24th, shipped a week later).
    let mut tardy = order("t1", "2025-11-24T15:00:00Z");
    tardy.shipped_at = Some("2025-12-01T15:00:00Z".into());
    s.upsert_orders(&[ok(tardy)], &policy(), ts(NOW))
        .await
        .unwrap();
    let shipped_late = list(OrderFilter {
        ship_by_state: Some(ShipByState::ShippedLate),
        limit: 100,
        ..Default::default()
    })
    .await;
    let ids: Vec<&str> = shipped_late
        .items
        .iter()
        .map(|o| o.facts.external_id.as_str())
        .collect();
    assert_eq!(ids, ["t1"]);
    let on_time = list(OrderFilter {
        ship_by_state: Some(ShipByState::ShippedOnTime),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(on_time.items.len(), 1);
}

async fn at_risk_and_late_alerts_are_raised_once(db: &Db) {
    let s = &db.store;
    s.upsert_orders(
        &[ok(order("x1", "2025-12-02T15:00:00Z"))],
        &policy(),
        ts(NOW),
    )
    .await
    .unwrap();
    assert_eq!(
        s.raise_due_alerts(ts("2025-12-04T12:00:00Z"), 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.raise_due_alerts(ts("2025-12-04T19:00:00Z"), 100)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.raise_due_alerts(ts("2025-12-04T20:00:00Z"), 100)
            .await
            .unwrap(),
        0
    );
    // Re-sending the order does not raise the same alert again.
    s.upsert_orders(
        &[ok(order("x1", "2025-12-02T15:00:00Z"))],
        &policy(),
        ts(NOW),
    )
    .await
    .unwrap();
    assert_eq!(
        s.raise_due_alerts(ts("2025-12-04T21:00:00Z"), 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.raise_due_alerts(ts("2025-12-05T06:00:00Z"), 100)
            .await
            .unwrap(),
        1
    );
    let alerts = s.list_alerts(None, 100).await.unwrap();
    let kinds: Vec<_> = alerts.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["order_at_risk", "order_late"]);
    assert!(alerts[0].message.contains("#x1"), "{}", alerts[0].message);
    // A shipped order raises nothing.
    let mut shipped = order("x2", "2025-12-02T15:00:00Z");
    shipped.shipped_at = Some("2025-12-03T15:00:00Z".into());
    s.upsert_orders(&[ok(shipped)], &policy(), ts(NOW))
        .await
        .unwrap();
    assert_eq!(
        s.raise_due_alerts(ts("2025-12-09T06:00:00Z"), 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.list_alerts(Some(alerts[1].id), 100).await.unwrap().len(),
        0
    );
}

async fn shipping_performance_rates(db: &Db) {
    let s = &db.store;
    let mut batch = Vec::new();
    // Four orders due in the last week: one shipped late, one never shipped, two on time.
    for (i, shipped) in [
        Some("2025-12-10T15:00:00Z"),
        None,
        Some("2025-12-02T15:00:00Z"),
        Some("2025-12-02T16:00:00Z"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut o = order(&format!("r{i}"), "2025-12-01T15:00:00Z");
        o.shipped_at = shipped.map(String::from);
        batch.push(ok(o));
    }
    let mut cancelled = order("rc", "2025-12-01T15:00:00Z");
    cancelled.cancelled_at = Some("2025-12-01T18:00:00Z".into());
    batch.push(ok(cancelled));
    s.upsert_orders(&batch, &policy(), ts(NOW)).await.unwrap();
    let w = s
        .shipping_window(7, ts("2025-12-07T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!((w.orders_due, w.shipped_late), (4, 2));
    assert!((w.late_shipment_rate - 0.5).abs() < 1e-9);
    assert_eq!((w.orders_placed, w.cancelled_before_shipping), (5, 1));
    assert!((w.pre_fulfilment_cancel_rate - 0.2).abs() < 1e-9);
    let empty = s
        .shipping_window(7, ts("2026-06-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(empty.late_shipment_rate, 0.0);
}

async fn api_tokens_store_only_hashes_and_can_be_revoked(db: &Db) {
    let s = &db.store;
    s.create_token("shop", "hash-1", ts(NOW)).await.unwrap();
    let dup = s.create_token("shop", "hash-2", ts(NOW)).await.unwrap_err();
    assert!(dup.to_string().contains("already exists"), "{dup}");
    assert_eq!(
        s.token_name("hash-1").await.unwrap().as_deref(),
        Some("shop")
    );
    assert_eq!(s.token_name("hash-2").await.unwrap(), None);
    assert!(s.revoke_token("shop", ts(NOW)).await.unwrap());
    assert!(!s.revoke_token("shop", ts(NOW)).await.unwrap());
    assert_eq!(s.token_name("hash-1").await.unwrap(), None);
    s.create_token("shop", "hash-3", ts(NOW)).await.unwrap();
    let tokens = s.list_tokens().await.unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(tokens[0].revoked_at.is_some());
}

async fn concurrent_writers_of_the_same_orders_never_duplicate(db: &Db) {
    // A second store on the same database stands for a second herald node.
    let other = herald_store::open(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let stores = [db.store.clone(), other];
    let mut tasks = Vec::new();
    for w in 0..8 {
        let s = stores[w % 2].clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..5 {
                let batch: Vec<NewOrder> = (0..40)
                    .map(|i| {
                        let mut o = order(
                            &format!("c{}", (i * 7 + w + round) % 40),
                            "2025-12-01T15:00:00Z",
                        );
                        if (w + round) % 3 == 0 {
                            o.paid_at = Some(format!("2025-12-01T15:{:02}:00Z", 10 + w));
                        }
                        ok(o)
                    })
                    .collect();
                s.upsert_orders(&batch, &policy(), ts(NOW)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(db.store.count_orders().await.unwrap(), 40);
    // Every order kept the earliest payment any writer reported.
    let page = db
        .store
        .list_orders(
            &OrderFilter {
                limit: 100,
                ..Default::default()
            },
            ts(NOW),
        )
        .await
        .unwrap();
    for o in page.items {
        if let Some(p) = o.facts.paid_at {
            assert!(p <= ts("2025-12-01T15:17:00Z"));
        }
    }
}

async fn reopening_keeps_everything(db: &Db) {
    let ids = db
        .store
        .upsert_orders(
            &[ok(order("k1", "2025-12-01T15:00:00Z"))],
            &policy(),
            ts(NOW),
        )
        .await
        .unwrap();
    let again = herald_store::open(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let o = again.get_order(ids[0].id, ts(NOW)).await.unwrap().unwrap();
    assert_eq!(o.facts.external_id, "k1");
    assert_eq!(again.kind(), db.store.kind());
}

async fn large_batches_record_every_event(db: &Db) {
    // 150 orders with 3 events each: several full 64-row event statements plus a remainder.
    let batch: Vec<NewOrder> = (0..150)
        .map(|i| {
            let mut o = order(&format!("e{i}"), "2025-12-01T15:00:00Z");
            o.paid_at = Some("2025-12-01T15:05:00Z".into());
            if i % 2 == 0 {
                o.cancelled_at = Some("2025-12-01T16:00:00Z".into());
            } else {
                o.shipped_at = Some("2025-12-02T16:00:00Z".into());
            }
            ok(o)
        })
        .collect();
    let ids = db
        .store
        .upsert_orders(&batch, &policy(), ts(NOW))
        .await
        .unwrap();
    for (i, u) in ids.iter().enumerate() {
        let kinds: Vec<_> = db
            .store
            .order_events(u.id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind.as_str())
            .collect();
        let want: &[&str] = if i % 2 == 0 {
            &["placed", "paid", "cancelled"]
        } else {
            &["placed", "paid", "partially_shipped", "shipped"]
        };
        assert_eq!(kinds, want, "order e{i}");
    }
}

fn scan(status: &str, at: &str, city: &str) -> herald_core::tracking::TrackingEvent {
    herald_core::tracking::TrackingEventInput {
        carrier: "USPS".into(),
        tracking_number: "9400 1118 9922 3344".into(),
        status: status.into(),
        occurred_at: at.into(),
        description: Some(format!("{status} at {city}")),
        location: Some(herald_core::tracking::ScanLocation {
            city: Some(city.into()),
            region: Some("NJ".into()),
            ..Default::default()
        }),
    }
    .validate()
    .unwrap()
}

async fn tracking_events_are_stored_once_and_early_ones_attach_to_the_shipment(db: &Db) {
    use herald_core::tracking::{ShipmentInput, TrackingStatus};
    let s = &db.store;
    let order = s
        .upsert_orders(
            &[ok(order("t1", "2025-12-01T15:00:00Z"))],
            &policy(),
            ts(NOW),
        )
        .await
        .unwrap()[0]
        .id;
    // The carrier's webhook comes before the seller's shipment: kept, not lost.
    let accepted = scan("accepted", "2025-12-02T14:00:00Z", "Orlando");
    let moving = scan("in_transit", "2025-12-03T09:00:00Z", "Kenly");
    assert_eq!(
        s.ingest_tracking_events(
            vec![accepted.clone(), moving.clone()],
            &watch_policy(),
            ts(NOW)
        )
        .await
        .unwrap()
        .fresh,
        [true, true]
    );
    assert_eq!(
        s.ingest_tracking_events(vec![moving.clone()], &watch_policy(), ts(NOW))
            .await
            .unwrap()
            .fresh,
        [false]
    );
    let shipment = ShipmentInput {
        order_id: order,
        carrier: "usps".into(),
        tracking_number: "9400111899223344".into(),
        service: Some("Priority Mail".into()),
        label_created_at: Some("2025-12-02T10:00:00Z".into()),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let sh = s.upsert_shipment(&shipment, ts(NOW)).await.unwrap();
    assert_eq!(sh.status, TrackingStatus::InTransit);
    assert_eq!(sh.events.len(), 2);
    assert_eq!(sh.events[0].status, TrackingStatus::Accepted);
    // Re-sending the shipment keeps one shipment.
    let again = s.upsert_shipment(&shipment, ts(NOW)).await.unwrap();
    assert_eq!(again.id, sh.id);
    // An old scan arriving late joins the history without moving the parcel back; delivery
    // moves it on.
    // The shipment's updated time moves with its status, not with every scan.
    let (hour_later, two_hours_later) = (
        ts(NOW) + jiff::SignedDuration::from_hours(1),
        ts(NOW) + jiff::SignedDuration::from_hours(2),
    );
    let label = scan("pre_transit", "2025-12-02T10:05:00Z", "Orlando");
    s.ingest_tracking_events(vec![label], &watch_policy(), hour_later)
        .await
        .unwrap();
    let now = s.get_shipment(sh.id).await.unwrap().unwrap();
    assert_eq!(now.status, TrackingStatus::InTransit);
    assert_eq!(now.events.len(), 3);
    assert_eq!(now.updated_at, sh.updated_at);
    let delivered = scan("delivered", "2025-12-04T17:30:00Z", "Brooklyn");
    s.ingest_tracking_events(vec![delivered], &watch_policy(), two_hours_later)
        .await
        .unwrap();
    let list = s.order_shipments(order).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].status, TrackingStatus::Delivered);
    assert_eq!(list[0].status_at, Some(ts("2025-12-04T17:30:00Z")));
    assert_eq!(list[0].updated_at, two_hours_later);
    // A shipment for an order herald does not have is refused, naming the field.
    let mut stray = shipment.clone();
    stray.order_id = 999_999;
    stray.tracking_number = "OTHER".into();
    match s.upsert_shipment(&stray, ts(NOW)).await {
        Err(herald_store::StoreError::Missing(field, _)) => assert_eq!(field, "order_id"),
        other => panic!("expected a missing order, got {other:?}"),
    }
    assert!(s.get_shipment(sh.id + 1000).await.unwrap().is_none());
}

fn watch_policy() -> herald_core::watch::WatchPolicy {
    herald_core::watch::WatchPolicy {
        time_zone: jiff::tz::TimeZone::get("America/New_York").unwrap(),
        ..Default::default()
    }
}

/// An order with one USPS Priority Mail shipment (tracking number `tracking`).
async fn shipped(s: &Arc<dyn Store>, ext: &str, tracking: &str) -> herald_store::Shipment {
    shipped_by(s, ext, tracking, "Priority Mail").await
}

/// An order with one USPS shipment by `service` (tracking number `tracking`), labelled on
/// Monday 2025-12-01.
async fn shipped_by(
    s: &Arc<dyn Store>,
    ext: &str,
    tracking: &str,
    service: &str,
) -> herald_store::Shipment {
    let order = s
        .upsert_orders(
            &[ok(order(ext, "2025-12-01T15:00:00Z"))],
            &policy(),
            ts(NOW),
        )
        .await
        .unwrap()[0]
        .id;
    let shipment = herald_core::tracking::ShipmentInput {
        order_id: order,
        carrier: "usps".into(),
        tracking_number: tracking.into(),
        service: Some(service.into()),
        label_created_at: Some("2025-12-01T20:00:00Z".into()),
        origin_postal_code: Some("86001".into()),
        destination_postal_code: Some("07030".into()),
        ..Default::default()
    }
    .validate()
    .unwrap();
    s.upsert_shipment(&shipment, ts("2025-12-01T20:00:00Z"))
        .await
        .unwrap()
}

fn scan_of(
    tracking: &str,
    status: &str,
    at: &str,
    city: &str,
    state: &str,
) -> herald_core::tracking::TrackingEvent {
    herald_core::tracking::TrackingEventInput {
        carrier: "usps".into(),
        tracking_number: tracking.into(),
        status: status.into(),
        occurred_at: at.into(),
        description: None,
        location: Some(herald_core::tracking::ScanLocation {
            city: Some(city.into()),
            region: Some(state.into()),
            ..Default::default()
        }),
    }
    .validate()
    .unwrap()
}

async fn a_stalled_parcel_opens_one_case_that_the_seller_works_and_delivery_closes(db: &Db) {
    use herald_core::problems::ProblemKind;
    let s = &db.store;
    let p = watch_policy();
    let sh = shipped(s, "w1", "9400A").await;
    s.ingest_tracking_events(
        vec![
            scan_of(
                "9400A",
                "accepted",
                "2025-12-01T22:00:00Z",
                "Flagstaff",
                "AZ",
            ),
            scan_of(
                "9400A",
                "in_transit",
                "2025-12-02T09:00:00Z",
                "Phoenix",
                "AZ",
            ),
        ],
        &watch_policy(),
        ts("2025-12-02T10:00:00Z"),
    )
    .await
    .unwrap();
    // Moving normally: judged as the scans arrived (the shipment's own first review was due
    // when it was recorded), no case.
    let r = s
        .review_due_shipments(&p, ts("2025-12-02T10:00:05Z"), 100)
        .await
        .unwrap();
    assert_eq!((r.reviewed, r.opened), (0, 0));
    let now = s.get_shipment(sh.id).await.unwrap().unwrap();
    assert_eq!(now.status, herald_core::tracking::TrackingStatus::InTransit);
    // Three days without a scan: one stalled case with the scan that proves it, and an alert.
    let r = s
        .review_due_shipments(&p, ts("2025-12-05T09:00:00Z"), 100)
        .await
        .unwrap();
    assert_eq!((r.reviewed, r.opened, r.alerts), (1, 1, 1));
    let page = s
        .list_cases(&herald_store::CaseFilter {
            open: Some(true),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let case = &page.items[0];
    assert_eq!(
        (case.kind, case.shipment_id, case.open),
        (ProblemKind::Stalled, sh.id, true)
    );
    let evidence = &case.problems[0].evidence;
    assert_eq!(
        evidence[0].location.as_ref().unwrap().city.as_deref(),
        Some("Phoenix")
    );
    // Friday 04:00 New York time: the first action is due Monday at the same hour.
    assert_eq!(case.first_action_due, ts("2025-12-08T09:00:00Z"));
    let alerts = s.list_alerts(None, 100).await.unwrap();
    let opened: Vec<_> = alerts.iter().filter(|a| a.kind == "case_opened").collect();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].case_id, Some(case.id));
    // Sweeping again the next day adds nothing new: still one case, no second alert.
    let r = s
        .review_due_shipments(&p, ts("2025-12-06T09:00:01Z"), 100)
        .await
        .unwrap();
    assert_eq!(r.opened, 0);
    // Nobody acted by Monday: one overdue alert, once.
    let r = s
        .review_due_shipments(&p, ts("2025-12-08T09:00:01Z"), 100)
        .await
        .unwrap();
    assert_eq!(r.alerts, 1);
    let r = s
        .review_due_shipments(&p, ts("2025-12-08T10:00:00Z"), 100)
        .await
        .unwrap();
    assert_eq!(r.alerts, 0);
    let kinds: Vec<String> = s
        .list_alerts(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.kind)
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "case_first_action_overdue")
            .count(),
        1
    );
    // The seller asks USPS to search; a claim needs the reference.
    let entry = herald_core::cases::ActionInput {
        action: "carrier_claim".into(),
        reference: Some("SR-4471".into()),
        note: Some("Asked USPS for a search".into()),
    }
    .validate(ts("2025-12-08T15:00:00Z"))
    .unwrap();
    let worked = s
        .add_case_entry(case.id, entry, ts("2025-12-08T15:00:00Z"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(worked.first_action_at, Some(ts("2025-12-08T15:00:00Z")));
    assert!(worked.open);
    // The parcel is found and delivered: the case closes itself with a record.
    s.ingest_tracking_events(
        vec![scan_of(
            "9400A",
            "delivered",
            "2025-12-09T16:00:00Z",
            "Hoboken",
            "NJ",
        )],
        &watch_policy(),
        ts("2025-12-09T16:05:00Z"),
    )
    .await
    .unwrap();
    let r = s
        .review_due_shipments(&p, ts("2025-12-09T16:05:01Z"), 100)
        .await
        .unwrap();
    assert_eq!(r.closed, 1);
    let closed = s.get_case(case.id).await.unwrap().unwrap();
    assert!(!closed.open);
    assert_eq!(closed.close_reason.as_deref(), Some("delivered"));
    let last = closed.entries.last().unwrap();
    assert_eq!(last.kind, herald_core::cases::EntryKind::Closed);
    // A closed case takes notes but no other action.
    let reship = herald_core::cases::ActionInput {
        action: "reshipped".into(),
        ..Default::default()
    }
    .validate(ts("2025-12-09T17:00:00Z"))
    .unwrap();
    assert!(matches!(
        s.add_case_entry(case.id, reship, ts("2025-12-09T17:00:00Z"))
            .await,
        Err(herald_store::StoreError::Conflict(_))
    ));
    // Filters: by kind and state and age.
    let f = |open, kind, before: Option<&str>| herald_store::CaseFilter {
        open,
        kind,
        opened_before: before.map(ts),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        s.list_cases(&f(Some(false), Some(ProblemKind::Stalled), None))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        s.list_cases(&f(None, Some(ProblemKind::Misrouted), None))
            .await
            .unwrap()
            .items
            .len(),
        0
    );
    assert_eq!(
        s.list_cases(&f(None, None, Some("2025-12-04T00:00:00Z")))
            .await
            .unwrap()
            .items
            .len(),
        0
    );
    assert!(s.get_case(case.id + 100).await.unwrap().is_none());
}

/// A parcel's stored next check (µs), or `None` when nothing is due for it any more.
async fn next_check(db: &Db, tracking: &str) -> Option<i64> {
    query(
        db,
        &format!(
            "SELECT CAST(next_check_at AS TEXT) FROM shipments WHERE tracking_number = '{tracking}'"
        ),
    )
    .await[0][0]
        .as_deref()
        .map(|t| t.parse().unwrap())
}

/// A scan that moves a parcel's next check by less than a day leaves the stored one (and the
/// parcel's place in the due index); the sweep that then reviews the parcel early finds nothing
/// and stores the rules' own time; a scan that moves the check further moves it.
async fn a_next_check_moved_a_little_stays_and_is_never_late(db: &Db) {
    use herald_core::problems::ProblemKind;
    let (s, p) = (&db.store, watch_policy());
    // Ground Advantage: delivery is due by Monday 12-08, so `stalled` (three days after the
    // last scan) decides the next check all week.
    let early = shipped_by(s, "n1", "9400NEAR", "Ground Advantage").await;
    shipped_by(s, "n2", "9400FAR", "Ground Advantage").await;
    let scan = |t: &str, status: &str, at: &str| scan_of(t, status, at, "Flagstaff", "AZ");
    let ingest = |events, at: &str| s.ingest_tracking_events(events, &p, ts(at));
    ingest(
        vec![
            scan("9400NEAR", "accepted", "2025-12-01T22:00:00Z"),
            scan("9400FAR", "accepted", "2025-12-01T22:00:00Z"),
        ],
        "2025-12-01T23:00:00Z",
    )
    .await
    .unwrap();
    let first = ts("2025-12-04T22:00:00Z").as_microsecond();
    assert_eq!(next_check(db, "9400NEAR").await, Some(first));
    assert_eq!(next_check(db, "9400FAR").await, Some(first));
    // Eleven hours later for one parcel, a day and a half for the other.
    ingest(
        vec![
            scan("9400NEAR", "in_transit", "2025-12-02T09:00:00Z"),
            scan("9400FAR", "in_transit", "2025-12-03T10:00:00Z"),
        ],
        "2025-12-03T11:00:00Z",
    )
    .await
    .unwrap();
    assert_eq!(next_check(db, "9400NEAR").await, Some(first));
    assert_eq!(
        next_check(db, "9400FAR").await,
        Some(ts("2025-12-06T10:00:00Z").as_microsecond())
    );
    // Nothing is due before the kept check; at it, the sweep finds nothing yet and stores the
    // rules' own time, and there the parcel has stalled.
    let sweep = |at: &str| s.review_due_shipments(&p, ts(at), 100);
    let r = sweep("2025-12-04T21:59:59Z").await.unwrap();
    assert_eq!(r.reviewed, 0);
    let r = sweep("2025-12-04T22:00:00Z").await.unwrap();
    assert_eq!((r.reviewed, r.opened, r.alerts), (1, 0, 0));
    assert_eq!(
        next_check(db, "9400NEAR").await,
        Some(ts("2025-12-05T09:00:00Z").as_microsecond())
    );
    let got = s.get_shipment(early.id).await.unwrap().unwrap();
    assert_eq!(got.status, herald_core::tracking::TrackingStatus::InTransit);
    let r = sweep("2025-12-05T09:00:00Z").await.unwrap();
    assert_eq!((r.reviewed, r.opened), (1, 1));
    let page = s
        .list_cases(&herald_store::CaseFilter {
            open: Some(true),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        (page.items[0].kind, page.items[0].shipment_id),
        (ProblemKind::Stalled, early.id)
    );
}

async fn the_sweep_reads_only_due_shipments(db: &Db) {
    let s = &db.store;
    let p = watch_policy();
    for i in 0..5 {
        shipped(s, &format!("d{i}"), &format!("9400D{i}")).await;
    }
    // A shipment just recorded is reviewed once (its facts are new).
    let r = s
        .review_due_shipments(&p, ts("2025-12-02T09:59:00Z"), 100)
        .await
        .unwrap();
    assert_eq!(r.reviewed, 5);
    // Healthy scans are judged as they arrive: status and next check written, nothing due.
    for i in 0..5 {
        let t = format!("9400D{i}");
        let done = s
            .ingest_tracking_events(
                vec![scan_of(
                    &t,
                    "accepted",
                    "2025-12-01T22:00:00Z",
                    "Flagstaff",
                    "AZ",
                )],
                &p,
                ts("2025-12-02T10:00:00Z"),
            )
            .await
            .unwrap();
        assert_eq!((done.fresh.as_slice(), done.due_now), (&[true][..], 0));
    }
    let sh = s.get_shipment(1).await.unwrap().unwrap();
    assert_eq!(sh.status, herald_core::tracking::TrackingStatus::Accepted);
    let r = s
        .review_due_shipments(&p, ts("2025-12-02T10:00:01Z"), 100)
        .await
        .unwrap();
    assert_eq!(r.reviewed, 0);
    // Nothing can fire for a day: nothing is read.
    let r = s
        .review_due_shipments(&p, ts("2025-12-02T12:00:00Z"), 100)
        .await
        .unwrap();
    assert_eq!(r.reviewed, 0);
    // A scan with a problem makes exactly that parcel due; a healthy one does not.
    let done = s
        .ingest_tracking_events(
            vec![
                scan_of(
                    "9400D3",
                    "exception",
                    "2025-12-02T11:00:00Z",
                    "Albuquerque",
                    "NM",
                ),
                scan_of(
                    "9400D2",
                    "in_transit",
                    "2025-12-02T11:00:00Z",
                    "Albuquerque",
                    "NM",
                ),
            ],
            &p,
            ts("2025-12-02T12:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(done.due_now, 1);
    let r = s
        .review_due_shipments(&p, ts("2025-12-02T12:00:01Z"), 100)
        .await
        .unwrap();
    assert_eq!((r.reviewed, r.opened), (1, 1));
    // A parcel that had a problem is reviewed on every new scan, so its case can close.
    let done = s
        .ingest_tracking_events(
            vec![scan_of(
                "9400D3",
                "in_transit",
                "2025-12-02T15:00:00Z",
                "Amarillo",
                "TX",
            )],
            &p,
            ts("2025-12-02T16:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(done.due_now, 1);
    let r = s
        .review_due_shipments(&p, ts("2025-12-02T16:00:01Z"), 100)
        .await
        .unwrap();
    assert_eq!((r.reviewed, r.closed), (1, 1));
}

/// Runs one SQL statement on the test database, behind the store's back.
async fn exec(db: &Db, sql: &str) {
    match db.url.strip_prefix("sqlite://") {
        Some(path) => {
            rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(sql)
                .unwrap();
        }
        None => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .unwrap();
        }
    }
}

/// Rows of one SQL query on the test database, every column read as text.
async fn query(db: &Db, sql: &str) -> Vec<Vec<Option<String>>> {
    match db.url.strip_prefix("sqlite://") {
        Some(path) => {
            let c = rusqlite::Connection::open(path).unwrap();
            let mut st = c.prepare(sql).unwrap();
            let n = st.column_count();
            st.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        }
        None => {
            use sqlx::{Connection, Row};
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_all(&mut c)
                .await
                .unwrap()
                .iter()
                .map(|r| (0..r.len()).map(|i| r.get(i)).collect())
                .collect()
        }
    }
}

/// SQLite judges a batch touching many parcels on a second thread while the events go in
/// (`sqlite/arrivals.rs`); what it stores must be what judging the same events one at a time
/// stores.
/// The parcels whose tracking numbers start `9400{set}`, by number: the number after that
/// prefix, status, since, next check and digest. A parcel due by `now` reads "due now" (one due
/// now may keep an earlier due time; both go to the next sweep).
async fn parcel_states(db: &Db, set: &str, now: Timestamp) -> Vec<Vec<Option<String>>> {
    let now_us = now.as_microsecond();
    let sql = format!(
        "SELECT SUBSTR(tracking_number, 6), status, CAST(status_at AS TEXT), \
         CASE WHEN next_check_at <= {now_us} THEN 'due now' \
         ELSE CAST(next_check_at AS TEXT) END, digest FROM shipments JOIN parcel_states ON shipment_id = id \
         WHERE tracking_number LIKE '9400{set}%' ORDER BY tracking_number"
    );
    query(db, &sql).await
}

/// Whether two next checks as [`parcel_states`] gives them are both "due now", both none, or
/// times at most a day apart.
fn within_a_day(a: &Option<String>, b: &Option<String>) -> bool {
    match (a.as_deref(), b.as_deref()) {
        (Some(a), Some(b)) if a != "due now" && b != "due now" => {
            let (a, b): (i64, i64) = (a.parse().unwrap(), b.parse().unwrap());
            (a - b).abs() <= 24 * 3_600_000_000
        }
        (a, b) => a == b,
    }
}

async fn a_large_batch_is_judged_as_its_events_one_at_a_time(db: &Db) {
    let s = &db.store;
    let p = watch_policy();
    let now = ts("2025-12-04T12:00:00Z");
    let journey = |t: &str, i: usize| {
        let mut e = vec![scan_of(
            t,
            "accepted",
            "2025-12-01T22:00:00Z",
            "Flagstaff",
            "AZ",
        )];
        e.push(match i % 4 {
            0 => scan_of(t, "in_transit", "2025-12-02T09:00:00Z", "Phoenix", "AZ"),
            1 => scan_of(t, "in_transit", "2025-12-02T09:00:00Z", "Anchorage", "AK"),
            2 => scan_of(t, "delivered", "2025-12-03T15:00:00Z", "Hoboken", "NJ"),
            // A later scan first, then the acceptance again: a repeat.
            _ => scan_of(
                t,
                "out_for_delivery",
                "2025-12-03T08:00:00Z",
                "Newark",
                "NJ",
            ),
        });
        if i % 4 == 3 {
            e.swap(0, 1);
            e.push(e[1].clone());
        }
        e
    };
    const PARCELS: usize = 40;
    let (mut batch, mut singles) = (Vec::new(), Vec::new());
    for i in 0..PARCELS {
        for (set, events) in [("L", &mut batch), ("S", &mut singles)] {
            let t = format!("9400{set}{i:02}");
            shipped(s, &format!("{set}{i}"), &t).await;
            events.push(journey(&t, i));
        }
    }
    // Every parcel's events spread through the batch, with two for a parcel with no shipment.
    let interleave = |journeys: Vec<Vec<herald_core::tracking::TrackingEvent>>| {
        let longest = journeys.iter().map(Vec::len).max().unwrap();
        (0..longest)
            .flat_map(|k| journeys.iter().filter_map(move |j| j.get(k).cloned()))
            .collect::<Vec<_>>()
    };
    let mut batch = interleave(batch);
    batch.insert(
        7,
        scan_of(
            "9400LNONE",
            "accepted",
            "2025-12-01T22:00:00Z",
            "Flagstaff",
            "AZ",
        ),
    );
    batch.push(scan_of(
        "9400LNONE",
        "in_transit",
        "2025-12-02T22:00:00Z",
        "Phoenix",
        "AZ",
    ));
    // Another carrier's parcel with the same number as one of ours: a parcel of its own, with
    // no shipment; it must not touch ours.
    let mut theirs = scan_of(
        "9400L00",
        "delivered",
        "2025-12-03T20:00:00Z",
        "Hoboken",
        "NJ",
    );
    theirs.carrier = "ups".into();
    batch.push(theirs);
    let singles = interleave(singles);
    let together = s
        .ingest_tracking_events(batch.clone(), &p, now)
        .await
        .unwrap();
    let mut alone = herald_store::Ingested::default();
    for e in &singles {
        let one = s
            .ingest_tracking_events(vec![e.clone()], &p, now)
            .await
            .unwrap();
        alone.fresh.extend(one.fresh);
        alone.messages += one.messages;
    }
    let stored = |f: &[bool]| f.iter().filter(|f| **f).count();
    assert_eq!(stored(&together.fresh), stored(&alone.fresh) + 3);
    assert_eq!(together.fresh.len(), batch.len());
    // Of an event sent twice in the batch, the first is the one stored.
    for (i, e) in batch.iter().enumerate() {
        let first = !batch[..i].iter().any(|b| b.dedupe_key() == e.dedupe_key());
        assert_eq!(together.fresh[i], first, "event {i} of the batch");
    }
    assert_eq!(
        together.messages, 10,
        "one delivered notice per delivered parcel"
    );
    assert_eq!(alone.messages, 10);
    let state = |set| parcel_states(db, set, now);
    let (l, s_) = (state("L").await, state("S").await);
    assert_eq!(l.len(), PARCELS);
    for (a, b) in l.iter().zip(&s_) {
        assert_eq!((&a[..3], &a[4]), (&b[..3], &b[4]), "parcel {:?}", a[0]);
        // Judged one scan at a time, a parcel may keep an earlier next check (at most a day
        // before the rules' own: `watch::next_check_after_scan`).
        assert!(
            within_a_day(&a[3], &b[3]),
            "parcel {:?}: next checks {:?} and {:?}",
            a[0],
            a[3],
            b[3]
        );
    }
    // The rules did run: the Anchorage parcels are due now, the delivered ones are not watched.
    let due = l.iter().filter(|r| r[3].as_deref() == Some("due now"));
    assert_eq!(due.count(), PARCELS / 4);
    assert_eq!(
        l.iter()
            .filter(|r| r[1].as_deref() == Some("delivered"))
            .count(),
        PARCELS / 4
    );
    // The sweep opens the Anchorage parcels' cases and looks at them again in a day. The same
    // batch sent again an hour later stores nothing and changes no parcel: none is due again.
    let r = s.review_due_shipments(&p, now, 1_000).await.unwrap();
    assert_eq!(r.opened, 2 * PARCELS as u64 / 4);
    let later = now + jiff::SignedDuration::from_hours(1);
    let before = parcel_states(db, "L", later).await;
    let again = s.ingest_tracking_events(batch, &p, later).await.unwrap();
    assert!(again.fresh.iter().all(|f| !f));
    assert_eq!(again.messages, 0);
    assert_eq!(parcel_states(db, "L", later).await, before);
    // A second leg, with every other shipment just updated by the seller (on SQLite the writer
    // then reads those parcels' rows again and takes the others from its memory): in one batch
    // each parcel still ends where its events one at a time take it.
    for i in (0..PARCELS).step_by(2) {
        for set in ["L", "S"] {
            shipped(s, &format!("{set}{i}"), &format!("9400{set}{i:02}")).await;
        }
    }
    let leg = |t: &str, i: usize| {
        let (city, region) = if i.is_multiple_of(3) {
            ("Anchorage", "AK")
        } else {
            ("Newark", "NJ")
        };
        let moved = scan_of(t, "in_transit", "2025-12-04T02:00:00Z", city, region);
        if i % 2 == 1 {
            // The acceptance scan again first: this parcel's only new event comes later.
            let first = scan_of(t, "accepted", "2025-12-01T22:00:00Z", "Flagstaff", "AZ");
            vec![first, moved]
        } else {
            let next = scan_of(
                t,
                "out_for_delivery",
                "2025-12-04T09:00:00Z",
                "Hoboken",
                "NJ",
            );
            vec![moved, next]
        }
    };
    let legs = |set: &str| {
        interleave(
            (0..PARCELS)
                .map(|i| leg(&format!("9400{set}{i:02}"), i))
                .collect(),
        )
    };
    let (mut batch, singles) = (legs("L"), legs("S"));
    // Between each parcel's first and second scan, scans of parcels herald has no shipment
    // for: the parcels are judged before their second scans go in, and a verdict must wait
    // for them to know whether the parcel got a new event.
    const OTHERS: usize = 500;
    let others = (0..OTHERS).map(|k| {
        let t = format!("9400X{k:03}");
        scan_of(&t, "accepted", "2025-12-04T01:00:00Z", "Flagstaff", "AZ")
    });
    batch.splice(PARCELS..PARCELS, others);
    let later = later + jiff::SignedDuration::from_hours(1);
    let together = s.ingest_tracking_events(batch, &p, later).await.unwrap();
    assert_eq!(stored(&together.fresh), 2 * PARCELS - PARCELS / 2 + OTHERS);
    for e in singles {
        s.ingest_tracking_events(vec![e], &p, later).await.unwrap();
    }
    let (l, s_) = (state("L").await, state("S").await);
    for (a, b) in l.iter().zip(&s_) {
        assert_eq!((&a[..3], &a[4]), (&b[..3], &b[4]), "parcel {:?}", a[0]);
        assert!(within_a_day(&a[3], &b[3]), "parcel {:?}", a[0]);
    }
    let moved_at = ts("2025-12-04T02:00:00Z").as_microsecond().to_string();
    for (i, r) in l.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
        assert_eq!(
            (r[1].as_deref(), r[2].as_deref()),
            (Some("in_transit"), Some(moved_at.as_str())),
            "parcel {i}, whose new scan came after its repeated one"
        );
    }
}

async fn concurrent_batches_for_the_same_parcels_store_each_event_once(db: &Db) {
    let s = &db.store;
    let p = watch_policy();
    let now = ts("2025-12-04T12:00:00Z");
    const PARCELS: usize = 40;
    // Each parcel's journey; set C is sent as two overlapping batches at once (each holds every
    // parcel, in opposite orders, sharing the middle scan), set Q one batch after the other.
    let journey = |t: &str, i: usize| {
        vec![
            scan_of(t, "accepted", "2025-12-01T22:00:00Z", "Flagstaff", "AZ"),
            scan_of(t, "in_transit", "2025-12-02T09:00:00Z", "Phoenix", "AZ"),
            if i.is_multiple_of(3) {
                scan_of(t, "delivered", "2025-12-03T15:00:00Z", "Hoboken", "NJ")
            } else {
                scan_of(t, "in_transit", "2025-12-03T01:00:00Z", "Anchorage", "AK")
            },
        ]
    };
    let (mut first, mut second, mut sequential) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..PARCELS {
        let c = format!("9400C{i:02}");
        let q = format!("9400Q{i:02}");
        shipped(s, &format!("C{i}"), &c).await;
        shipped(s, &format!("Q{i}"), &q).await;
        let j = journey(&c, i);
        first.extend([j[0].clone(), j[1].clone()]);
        second.extend([j[2].clone(), j[1].clone()]);
        sequential.extend(journey(&q, i));
    }
    second.reverse();
    let (a, b) = {
        let (s1, s2, p1, p2) = (s.clone(), s.clone(), p.clone(), p.clone());
        let (f, g) = (first.clone(), second.clone());
        tokio::join!(
            tokio::spawn(async move { s1.ingest_tracking_events(f, &p1, now).await }),
            tokio::spawn(async move { s2.ingest_tracking_events(g, &p2, now).await }),
        )
    };
    let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
    let stored = |f: &[bool]| f.iter().filter(|f| **f).count();
    // Each parcel's shared scan is stored by one batch only.
    assert_eq!(stored(&a.fresh) + stored(&b.fresh), 3 * PARCELS);
    assert_eq!(a.messages + b.messages, PARCELS.div_ceil(3) as u64);
    let q = s.ingest_tracking_events(sequential, &p, now).await.unwrap();
    assert_eq!(stored(&q.fresh), 3 * PARCELS);
    let state = |set| parcel_states(db, set, now);
    let (c, q) = (state("C").await, state("Q").await);
    assert_eq!(c.len(), PARCELS);
    assert_eq!(
        c, q,
        "two batches at once end where one after the other does"
    );
    let events = query(
        db,
        "SELECT CAST(COUNT(*) AS TEXT) FROM tracking_events WHERE tracking_number LIKE '9400C%'",
    )
    .await;
    assert_eq!(events[0][0].as_deref(), Some("120"));
}

async fn a_shipment_from_before_digests_is_judged_on_all_its_events(db: &Db) {
    use herald_core::tracking::TrackingStatus;
    let s = &db.store;
    let p = watch_policy();
    let sh = shipped(s, "g1", "9400G").await;
    s.ingest_tracking_events(
        vec![
            scan_of(
                "9400G",
                "accepted",
                "2025-12-01T22:00:00Z",
                "Flagstaff",
                "AZ",
            ),
            scan_of(
                "9400G",
                "in_transit",
                "2025-12-02T09:00:00Z",
                "Phoenix",
                "AZ",
            ),
        ],
        &p,
        ts("2025-12-02T10:00:00Z"),
    )
    .await
    .unwrap();
    // As a shipment stored before this version: no digest.
    exec(db, "UPDATE parcel_states SET digest = NULL").await;
    // A late, older scan: judged with every stored event, so the parcel does not move back.
    let done = s
        .ingest_tracking_events(
            vec![scan_of(
                "9400G",
                "pre_transit",
                "2025-12-01T21:00:00Z",
                "Flagstaff",
                "AZ",
            )],
            &p,
            ts("2025-12-02T11:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!((done.due_now, done.messages), (0, 0));
    let got = s.get_shipment(sh.id).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.status_at),
        (TrackingStatus::InTransit, Some(ts("2025-12-02T09:00:00Z")))
    );
    // Judged as moving (next due when it would stall), not as never scanned: a day later
    // nothing is due and no "not accepted" case opens.
    let r = s
        .review_due_shipments(&p, ts("2025-12-03T12:00:00Z"), 100)
        .await
        .unwrap();
    assert_eq!((r.reviewed, r.opened), (0, 0));
    // Delivery: the customer's delivered notice is written with the scan, once.
    let delivered = scan_of(
        "9400G",
        "delivered",
        "2025-12-04T17:30:00Z",
        "Hoboken",
        "NJ",
    );
    let done = s
        .ingest_tracking_events(vec![delivered.clone()], &p, ts("2025-12-04T18:00:00Z"))
        .await
        .unwrap();
    assert_eq!((done.due_now, done.messages), (0, 1));
    let late_repeat = s
        .ingest_tracking_events(vec![delivered], &p, ts("2025-12-04T19:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        (late_repeat.fresh.as_slice(), late_repeat.messages),
        (&[false][..], 0)
    );
    let got = s.get_shipment(sh.id).await.unwrap().unwrap();
    assert_eq!(got.status, TrackingStatus::Delivered);
}

async fn two_nodes_sweeping_never_open_a_case_twice(db: &Db) {
    let other = herald_store::open(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let n = 60;
    for i in 0..n {
        let t = format!("9400N{i}");
        shipped(&db.store, &format!("n{i}"), &t).await;
        db.store
            .ingest_tracking_events(
                vec![scan_of(
                    &t,
                    "in_transit",
                    "2025-12-02T09:00:00Z",
                    "Phoenix",
                    "AZ",
                )],
                &watch_policy(),
                ts("2025-12-02T10:00:00Z"),
            )
            .await
            .unwrap();
    }
    let p = watch_policy();
    let mut tasks = Vec::new();
    for (w, s) in [db.store.clone(), other, db.store.clone()]
        .into_iter()
        .enumerate()
    {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let mut opened = 0;
            for round in 0..20 {
                let at =
                    ts("2025-12-06T09:00:00Z") + jiff::SignedDuration::from_secs(round + w as i64);
                opened += s.review_due_shipments(&p, at, 7).await.unwrap().opened;
            }
            opened
        }));
    }
    let mut opened = 0;
    for t in tasks {
        opened += t.await.unwrap();
    }
    assert_eq!(opened, n);
    let all = db
        .store
        .list_cases(&herald_store::CaseFilter {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), n as usize);
    let mut shipments: Vec<i64> = all.items.iter().map(|c| c.shipment_id).collect();
    shipments.sort();
    shipments.dedup();
    assert_eq!(shipments.len(), n as usize);
}

async fn any_arrival_order_of_events_gives_the_same_status_history_and_cases(db: &Db) {
    // One journey with a detour through Anchorage (misrouted) and a return to sender.
    let journey = [
        ("accepted", "2025-12-01T22:00:00Z", "Flagstaff", "AZ"),
        ("in_transit", "2025-12-02T09:00:00Z", "Phoenix", "AZ"),
        ("in_transit", "2025-12-03T09:00:00Z", "Anchorage", "AK"),
        ("exception", "2025-12-04T09:00:00Z", "Anchorage", "AK"),
        (
            "returned_to_sender",
            "2025-12-05T09:00:00Z",
            "Anchorage",
            "AK",
        ),
    ];
    let p = watch_policy();
    let mut outcomes = Vec::new();
    let mut seed: u64 = 7;
    for run in 0..10 {
        let t = format!("9400P{run}");
        let sh = shipped(&db.store, &format!("p{run}"), &t).await;
        let mut events: Vec<_> = journey
            .iter()
            .map(|(st, at, c, r)| scan_of(&t, st, at, c, r))
            .collect();
        // Repeats, then a seeded shuffle, delivered in batches of varying size.
        events.push(events[(run * 2) % 5].clone());
        events.push(events[(run + 3) % 5].clone());
        for i in (1..events.len()).rev() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            events.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let mut rest = &events[..];
        while !rest.is_empty() {
            let k = 1 + (seed as usize + rest.len()) % 3;
            let (now, later) = rest.split_at(k.min(rest.len()));
            db.store
                .ingest_tracking_events(now.to_vec(), &watch_policy(), ts("2025-12-06T09:00:00Z"))
                .await
                .unwrap();
            rest = later;
        }
        db.store
            .review_due_shipments(&p, ts("2025-12-06T09:00:01Z"), 100)
            .await
            .unwrap();
        let shipment = db.store.get_shipment(sh.id).await.unwrap().unwrap();
        let cases = db
            .store
            .list_cases(&herald_store::CaseFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|c| c.shipment_id == sh.id)
            .map(|c| {
                (
                    c.kind,
                    c.kinds,
                    c.problems
                        .iter()
                        .map(|p| (p.kind, p.since, p.evidence.len()))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>();
        let history: Vec<_> = shipment
            .events
            .iter()
            .map(|e| (e.status, e.occurred_at))
            .collect();
        outcomes.push((shipment.status, history, cases));
    }
    assert_eq!(
        outcomes[0].0,
        herald_core::tracking::TrackingStatus::ReturnedToSender
    );
    assert_eq!(outcomes[0].1.len(), 5);
    assert_eq!(outcomes[0].2.len(), 1, "{:?}", outcomes[0].2);
    assert!(
        outcomes[0].2[0]
            .1
            .contains(&herald_core::problems::ProblemKind::Misrouted)
    );
    for o in &outcomes[1..] {
        assert_eq!(o, &outcomes[0]);
    }
}

async fn webhooks_are_kept_and_unreadable_ones_are_dead_letters(db: &Db) {
    let s = &db.store;
    let ev = scan_of(
        "9400W",
        "in_transit",
        "2025-12-02T09:00:00Z",
        "Phoenix",
        "AZ",
    );
    let sh = shipped(s, "wh1", "9400W").await;
    let eta = ts("2025-12-05T23:59:59Z");
    let (id, fresh) = s
        .record_webhook(
            "easypost",
            br#"{"object":"Event"}"#,
            std::slice::from_ref(&ev),
            Some(eta),
            None,
            &watch_policy(),
            ts(NOW),
        )
        .await
        .unwrap();
    assert_eq!(fresh.fresh, [true]);
    // The provider's delivery estimate lands on the shipment.
    let got = s.get_shipment(sh.id).await.unwrap().unwrap();
    assert_eq!(got.estimated_delivery, Some(eta));
    // The same delivery retried: kept for audit again, the event stored once.
    let (id2, fresh) = s
        .record_webhook(
            "easypost",
            br#"{"object":"Event"}"#,
            std::slice::from_ref(&ev),
            None,
            None,
            &watch_policy(),
            ts(NOW),
        )
        .await
        .unwrap();
    assert!(id2 > id);
    assert_eq!(fresh.fresh, [false]);
    let (dead, _) = s
        .record_webhook(
            "shippo",
            b"\xff not json",
            &[],
            None,
            Some("line 1: expected value"),
            &watch_policy(),
            ts(NOW),
        )
        .await
        .unwrap();
    let all = s.list_webhooks(false, None, 10).await.unwrap();
    assert_eq!(all.len(), 3);
    let dl = s.list_webhooks(true, None, 10).await.unwrap();
    assert_eq!(dl.len(), 1);
    assert_eq!((dl[0].id, dl[0].outcome.as_str()), (dead, "dead_letter"));
    assert_eq!(dl[0].reason.as_deref(), Some("line 1: expected value"));
    assert_eq!(all[2].body, r#"{"object":"Event"}"#);
}

fn kinds_of(page: &herald_store::Page<herald_store::Message>) -> Vec<String> {
    let mut k: Vec<String> = page
        .items
        .iter()
        .map(|m| format!("{}:{}", m.kind, m.status))
        .collect();
    k.sort();
    k
}

async fn messages_of(s: &Arc<dyn Store>, order: i64) -> herald_store::Page<herald_store::Message> {
    s.list_messages(&herald_store::MessageFilter {
        order_id: Some(order),
        limit: 100,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// The carrier's scans often come before the seller records the shipment; when they already
/// say delivered, recording it owes the delivered notice (once, and not again from the sweep).
async fn a_shipment_recorded_after_its_delivery_owes_the_delivered_notice_once(db: &Db) {
    let s = &db.store;
    let p = watch_policy();
    let now = ts("2025-12-03T16:00:00Z");
    let id = s
        .upsert_orders(
            &[ok(order("dl1", "2025-12-01T15:00:00Z"))],
            &policy(),
            ts("2025-12-01T15:05:00Z"),
        )
        .await
        .unwrap()[0]
        .id;
    s.ingest_tracking_events(
        vec![
            scan_of(
                "9400DL",
                "accepted",
                "2025-12-01T22:00:00Z",
                "Flagstaff",
                "AZ",
            ),
            scan_of(
                "9400DL",
                "delivered",
                "2025-12-03T15:00:00Z",
                "Hoboken",
                "NJ",
            ),
        ],
        &p,
        now,
    )
    .await
    .unwrap();
    let shipment = herald_core::tracking::ShipmentInput {
        order_id: id,
        carrier: "usps".into(),
        tracking_number: "9400DL".into(),
        service: Some("Priority Mail".into()),
        label_created_at: Some("2025-12-03T12:00:00Z".into()),
        ..Default::default()
    }
    .validate()
    .unwrap();
    for _ in 0..2 {
        let got = s.upsert_shipment(&shipment, now).await.unwrap();
        assert_eq!(got.status, herald_core::tracking::TrackingStatus::Delivered);
    }
    s.review_due_shipments(&p, now, 100).await.unwrap();
    let page = messages_of(s, id).await;
    assert_eq!(
        kinds_of(&page),
        [
            "delivered:pending",
            "order_acknowledged:pending",
            "shipped:pending"
        ]
    );
    let delivered = page
        .items
        .iter()
        .find(|m| m.kind == herald_core::notify::MessageKind::Delivered)
        .unwrap();
    assert_eq!(delivered.about_at, ts("2025-12-03T15:00:00Z"));
}

async fn every_step_owes_its_customer_one_message(db: &Db) {
    use herald_core::notify::MessageKind;
    let s = &db.store;
    // A new order is acknowledged; sending it again changes nothing.
    let o = order("m1", "2025-12-01T15:00:00Z");
    let soon = ts("2025-12-01T15:05:00Z");
    let id = s
        .upsert_orders(&[ok(o.clone())], &policy(), soon)
        .await
        .unwrap()[0]
        .id;
    s.upsert_orders(&[ok(o.clone())], &policy(), soon)
        .await
        .unwrap();
    assert_eq!(
        kinds_of(&messages_of(s, id).await),
        ["order_acknowledged:pending"]
    );
    // A payment reported a day later is noticed, once.
    let paid = OrderInput {
        paid_at: Some("2025-12-02T09:00:00Z".into()),
        ..o.clone()
    };
    for _ in 0..2 {
        s.upsert_orders(&[ok(paid.clone())], &policy(), ts("2025-12-02T09:01:00Z"))
            .await
            .unwrap();
    }
    let page = messages_of(s, id).await;
    assert_eq!(
        kinds_of(&page),
        ["order_acknowledged:pending", "payment_received:pending"]
    );
    let payment = page
        .items
        .iter()
        .find(|m| m.kind == MessageKind::PaymentReceived)
        .unwrap();
    assert_eq!(payment.about_at, ts("2025-12-02T09:00:00Z"));
    // An order herald first hears of two days after it was placed is not acknowledged: the
    // message is recorded as skipped, with the reason. Its shipment is announced once,
    // however often it is sent.
    let sh = shipped(s, "m2", "9400M").await;
    shipped(s, "m2", "9400M").await;
    let page = messages_of(s, sh.order_id).await;
    assert_eq!(
        kinds_of(&page),
        ["order_acknowledged:skipped", "shipped:pending"]
    );
    let ack = page
        .items
        .iter()
        .find(|m| m.kind == MessageKind::OrderAcknowledged)
        .unwrap();
    assert!(
        ack.last_error.as_deref().unwrap().contains("too late"),
        "{ack:?}"
    );
    assert_eq!(ack.next_attempt_at, None, "never handed to the sender");
    let note = page
        .items
        .iter()
        .find(|m| m.kind == MessageKind::Shipped)
        .unwrap();
    assert_eq!(note.facts["shipment_id"], sh.id);
    // A stalled parcel earns one problem notice; delivery earns one delivered notice.
    let p = watch_policy();
    s.ingest_tracking_events(
        vec![scan_of(
            "9400M",
            "in_transit",
            "2025-12-02T09:00:00Z",
            "Phoenix",
            "AZ",
        )],
        &watch_policy(),
        ts("2025-12-02T10:00:00Z"),
    )
    .await
    .unwrap();
    for day in ["2025-12-06T09:00:00Z", "2025-12-07T09:00:00Z"] {
        s.review_due_shipments(&p, ts(day), 100).await.unwrap();
    }
    s.ingest_tracking_events(
        vec![scan_of(
            "9400M",
            "delivered",
            "2025-12-08T15:00:00Z",
            "Hoboken",
            "NJ",
        )],
        &watch_policy(),
        ts("2025-12-08T16:00:00Z"),
    )
    .await
    .unwrap();
    for at in ["2025-12-08T16:00:01Z", "2025-12-08T16:00:02Z"] {
        s.review_due_shipments(&p, ts(at), 100).await.unwrap();
        s.ingest_tracking_events(
            vec![scan_of(
                "9400M",
                "delivered",
                "2025-12-08T15:00:00Z",
                "Hoboken",
                "NJ",
            )],
            &watch_policy(),
            ts(at),
        )
        .await
        .unwrap();
    }
    let page = messages_of(s, sh.order_id).await;
    assert_eq!(
        kinds_of(&page),
        [
            "delivered:pending",
            "order_acknowledged:skipped",
            "parcel_problem:pending",
            "shipped:pending"
        ]
    );
    let problem = page
        .items
        .iter()
        .find(|m| m.kind == MessageKind::ParcelProblem)
        .unwrap();
    // Stalled and overdue are found together: one notice tells the customer it is late.
    assert!(
        ["stalled", "overdue"].contains(&problem.facts["problem"].as_str().unwrap()),
        "{}",
        problem.facts
    );
    let delivered = page
        .items
        .iter()
        .find(|m| m.kind == MessageKind::Delivered)
        .unwrap();
    assert_eq!(delivered.about_at, ts("2025-12-08T15:00:00Z"));
    // An unshipped order at risk of missing its deadline earns the delayed notice when the
    // alert sweep finds it at risk.
    let late = s
        .upsert_orders(&[ok(order("m3", "2025-12-01T15:00:00Z"))], &policy(), soon)
        .await
        .unwrap()[0]
        .id;
    let at_risk = s.get_order(late, soon).await.unwrap().unwrap().at_risk_from;
    s.raise_due_alerts(at_risk + jiff::SignedDuration::from_secs(15), 100)
        .await
        .unwrap();
    let page = messages_of(s, late).await;
    assert_eq!(
        kinds_of(&page),
        ["delayed:pending", "order_acknowledged:pending"]
    );
    let delayed = page
        .items
        .iter()
        .find(|m| m.kind == MessageKind::Delayed)
        .unwrap();
    assert_eq!(delayed.facts["missed"], false);
}

async fn enqueue_tests(s: &Arc<dyn Store>, from: usize, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in from..from + n {
        let m = herald_store::NewMessage {
            order_id: None,
            kind: herald_core::notify::MessageKind::Test,
            occurrence: format!("t{i}"),
            about_at: ts(NOW),
            facts: serde_json::json!({ "to": format!("owner{i}@shop.test") }),
        };
        ids.push(s.enqueue_message(&m, ts(NOW)).await.unwrap().unwrap());
        assert_eq!(
            s.enqueue_message(&m, ts(NOW)).await.unwrap(),
            None,
            "enqueued twice"
        );
    }
    ids
}

async fn two_workers_never_claim_the_same_message(db: &Db) {
    let other = herald_store::open(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let ids = enqueue_tests(&db.store, 0, 120).await;
    let lease = ts("2025-12-03T12:05:00Z");
    let mut tasks = Vec::new();
    for s in [db.store.clone(), other, db.store.clone()] {
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = s.claim_messages(ts(NOW), lease, 7).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                for m in batch {
                    assert_eq!(m.status, "sending");
                    let sent = herald_store::Settle::Sent {
                        recipient: "x@shop.test".into(),
                        subject: "s".into(),
                        body: "b".into(),
                        message_id: format!("<{}@shop.test>", m.id),
                    };
                    assert!(s.settle_message(m.id, &sent, ts(NOW)).await.unwrap());
                    got.push(m.id);
                }
            }
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        claimed.extend(t.await.unwrap());
    }
    claimed.sort();
    assert_eq!(claimed, ids, "each message claimed exactly once");
    // A message whose worker died mid-send is claimed again once its lease runs out.
    let id = enqueue_tests(&db.store, 120, 1).await[0];
    let first = db.store.claim_messages(ts(NOW), lease, 10).await.unwrap();
    assert_eq!(first.iter().map(|m| m.id).collect::<Vec<_>>(), [id]);
    assert!(
        db.store
            .claim_messages(ts(NOW), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = db
        .store
        .claim_messages(ts("2025-12-03T12:05:01Z"), ts("2025-12-03T12:10:00Z"), 10)
        .await
        .unwrap();
    assert_eq!((again[0].id, again[0].attempts), (id, 2));
}

async fn dead_messages_are_kept_and_can_be_retried(db: &Db) {
    let s = &db.store;
    let id = enqueue_tests(s, 0, 1).await[0];
    let m = &s
        .claim_messages(ts(NOW), ts("2025-12-03T12:05:00Z"), 10)
        .await
        .unwrap()[0];
    let retry_at = ts("2025-12-03T12:01:00Z");
    s.settle_message(
        m.id,
        &herald_store::Settle::Retry {
            error: "421 try later".into(),
            at: retry_at,
        },
        ts(NOW),
    )
    .await
    .unwrap();
    assert!(
        s.claim_messages(ts(NOW), retry_at, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let m = &s
        .claim_messages(retry_at, ts("2025-12-03T12:06:00Z"), 10)
        .await
        .unwrap()[0];
    assert_eq!(m.attempts, 2);
    s.settle_message(
        id,
        &herald_store::Settle::Dead {
            error: "550 no such user".into(),
        },
        ts(NOW),
    )
    .await
    .unwrap();
    let dead = s
        .list_messages(&herald_store::MessageFilter {
            status: Some("dead".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(dead.items.len(), 1);
    assert_eq!(
        dead.items[0].last_error.as_deref(),
        Some("550 no such user")
    );
    assert!(
        s.claim_messages(ts("2026-01-01T00:00:00Z"), ts("2026-01-01T00:05:00Z"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let back = s
        .retry_message(id, ts("2026-01-01T00:00:00Z"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (back.status.as_str(), back.last_error.as_deref()),
        ("pending", None)
    );
    assert!(
        s.retry_message(id, ts("2026-01-01T00:00:00Z"))
            .await
            .unwrap()
            .is_none()
    );
    let m = s
        .claim_messages(ts("2026-01-01T00:00:01Z"), ts("2026-01-01T00:05:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(m.len(), 1);
}

async fn the_sellers_templates_are_kept(db: &Db) {
    use herald_core::notify::{MessageKind, templates::default_set};
    let s = &db.store;
    assert!(s.load_templates().await.unwrap().is_empty());
    let mut set = default_set(MessageKind::Shipped);
    set.subject = "On its way: {{ order.number }}".into();
    s.save_template("", MessageKind::Shipped, &set, ts(NOW))
        .await
        .unwrap();
    set.subject = "Shipped: {{ order.number }}".into();
    s.save_template("", MessageKind::Shipped, &set, ts(NOW))
        .await
        .unwrap();
    set.subject = "Your candles shipped: {{ order.number }}".into();
    s.save_template("shopify-candles", MessageKind::Shipped, &set, ts(NOW))
        .await
        .unwrap();
    let saved = s.load_templates().await.unwrap();
    assert_eq!(saved.len(), 2);
    let key = |store: &str| (store.to_string(), MessageKind::Shipped);
    assert_eq!(saved[&key("")].subject, "Shipped: {{ order.number }}");
    assert_eq!(
        saved[&key("shopify-candles")].subject,
        "Your candles shipped: {{ order.number }}"
    );
    assert!(s.delete_template("", MessageKind::Shipped).await.unwrap());
    assert!(!s.delete_template("", MessageKind::Shipped).await.unwrap());
    assert_eq!(
        s.load_templates().await.unwrap().len(),
        1,
        "the store's own stays"
    );
    assert!(
        s.delete_template("shopify-candles", MessageKind::Shipped)
            .await
            .unwrap()
    );
    assert!(s.load_templates().await.unwrap().is_empty());
}

async fn hard_bounces_make_an_address_undeliverable_once(db: &Db) {
    use herald_core::notify::bounce::{Bounce, RecipientReport};
    let s = &db.store;
    let soon = ts("2025-12-01T15:05:00Z");
    let id = s
        .upsert_orders(&[ok(order("b1", "2025-12-01T15:00:00Z"))], &policy(), soon)
        .await
        .unwrap()[0]
        .id;
    let ack = messages_of(s, id).await.items[0].id;
    let report = |action: &str, status: &str| Bounce {
        recipients: vec![RecipientReport {
            address: "jane@shopper.test".into(),
            action: action.into(),
            status: status.into(),
            diagnostic: Some("smtp; 550 5.1.1 user unknown".into()),
        }],
        original_message_id: Some(format!("herald.outbox.{ack}@sandstonepottery.shop")),
    };
    // A delay is recorded but changes nothing.
    let r = s
        .record_bounce(&report("delayed", "4.4.7"), soon)
        .await
        .unwrap();
    assert!(r.undeliverable.is_empty());
    assert!(
        s.undeliverable("jane@shopper.test")
            .await
            .unwrap()
            .is_none()
    );
    // A hard bounce: undeliverable, one alert linked to the order, however often it comes.
    for _ in 0..2 {
        let r = s
            .record_bounce(&report("failed", "5.1.1"), soon)
            .await
            .unwrap();
        assert_eq!(r.undeliverable, ["jane@shopper.test"]);
        assert_eq!(r.order_id, Some(id));
    }
    let u = s.undeliverable("Jane@Shopper.test").await.unwrap().unwrap();
    assert_eq!(u.status, "5.1.1");
    let alerts: Vec<_> = s
        .list_alerts(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == "customer_unreachable")
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].order_id, Some(id));
    assert!(alerts[0].message.contains("jane@shopper.test") && alerts[0].message.contains("#b1"));
}

async fn alerts_and_messages_reach_the_seller_and_subscribed_endpoints(db: &Db) {
    use herald_core::notify::MessageKind as K;
    use herald_store::NewWebhookEndpoint;
    let s = &db.store;
    let soon = ts("2025-12-01T15:05:00Z");
    let endpoint = |kinds: Option<Vec<K>>| NewWebhookEndpoint {
        url: "https://erp.sandstonepottery.shop/hooks".into(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        kinds,
        description: None,
    };
    let acks = s
        .add_webhook_endpoint(
            &endpoint(Some(vec![K::OrderAcknowledged, K::SellerAlert])),
            soon,
        )
        .await
        .unwrap();
    assert_eq!(acks.events, ["order.received", "alert.raised"]);
    let all = s.add_webhook_endpoint(&endpoint(None), soon).await.unwrap();
    assert!(all.events.is_empty());
    let gone = s
        .add_webhook_endpoint(&endpoint(Some(vec![K::OrderAcknowledged])), soon)
        .await
        .unwrap();
    assert!(s.disable_webhook_endpoint(gone.id, soon).await.unwrap());
    assert!(!s.disable_webhook_endpoint(gone.id, soon).await.unwrap());
    assert_eq!(s.list_webhook_endpoints().await.unwrap().len(), 3);

    // An order's acknowledgement is echoed, when it is settled, once to each live endpoint
    // that wants it (settling twice, as after a lease ran out, echoes nothing more).
    let o = order("w1", "2025-12-01T15:00:00Z");
    let id = s
        .upsert_orders(&[ok(o.clone())], &policy(), soon)
        .await
        .unwrap()[0]
        .id;
    s.upsert_orders(&[ok(o)], &policy(), soon).await.unwrap();
    let settle_all = || async {
        let claimed = s
            .claim_messages(soon, soon + jiff::SignedDuration::from_mins(2), 100)
            .await
            .unwrap();
        let outcomes: Vec<_> = claimed
            .iter()
            .filter(|m| m.channel.is_none())
            .map(|m| {
                (
                    m.id,
                    herald_store::Settle::Skipped {
                        reason: "test".into(),
                    },
                )
            })
            .collect();
        s.settle_messages(&outcomes, soon).await.unwrap();
        s.settle_messages(&outcomes, soon).await.unwrap();
    };
    settle_all().await;
    let mut hooks: Vec<(String, String)> = messages_of(s, id)
        .await
        .items
        .into_iter()
        .filter(|m| m.channel.as_deref() == Some("webhook"))
        .map(|m| (m.kind.as_str().to_string(), m.recipient.unwrap()))
        .collect();
    hooks.sort();
    let want = |ids: &[i64]| -> Vec<(String, String)> {
        ids.iter()
            .map(|i| ("order_acknowledged".to_string(), i.to_string()))
            .collect()
    };
    assert_eq!(hooks, want(&[acks.id, all.id]));

    // A hard bounce raises an alert; the alert owes the seller a message in the same
    // transaction, and that message is echoed too.
    use herald_core::notify::bounce::{Bounce, RecipientReport};
    let bounce = Bounce {
        recipients: vec![RecipientReport {
            address: "jane@shopper.test".into(),
            action: "failed".into(),
            status: "5.1.1".into(),
            diagnostic: None,
        }],
        original_message_id: None,
    };
    s.record_bounce(&bounce, soon).await.unwrap();
    s.record_bounce(&bounce, soon).await.unwrap();
    let pending = s
        .list_messages(&herald_store::MessageFilter {
            kind: Some(K::SellerAlert),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .items;
    assert_eq!(
        pending.len(),
        1,
        "one alert message, in the bounce's transaction"
    );
    settle_all().await;
    let seller = s
        .list_messages(&herald_store::MessageFilter {
            kind: Some(K::SellerAlert),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .items;
    assert_eq!(
        seller.len(),
        3,
        "one alert message and two echoes: {seller:?}"
    );
    let mail = seller
        .iter()
        .find(|m| m.channel.as_deref() != Some("webhook"))
        .unwrap();
    assert_eq!(mail.status, "skipped");
    let alert_id = mail.facts["alert_id"].as_i64().unwrap();
    let alert = s.get_alert(alert_id).await.unwrap().unwrap();
    assert_eq!(alert.kind, "customer_unreachable");
    let day = s
        .alerts_between(ts("2025-12-01T00:00:00Z"), ts("2025-12-02T00:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(day.iter().map(|a| a.id).collect::<Vec<_>>(), [alert_id]);
    assert!(
        s.alerts_between(ts("2025-12-02T00:00:00Z"), ts("2025-12-03T00:00:00Z"), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // A message about a moment long past is skipped at once, and echoed nowhere.
    let before = s
        .list_messages(&herald_store::MessageFilter {
            channel: Some("webhook".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .len();
    let old = order("w0", "2025-11-20T15:00:00Z");
    s.upsert_orders(&[ok(old)], &policy(), soon).await.unwrap();
    settle_all().await;
    // Its deadline passed days ago: the seller gets the alert in the API, not a message now.
    assert!(s.raise_due_alerts(soon, 100).await.unwrap() >= 1);
    let late = s
        .list_messages(&herald_store::MessageFilter {
            kind: Some(K::SellerAlert),
            status: Some("skipped".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .items;
    assert!(
        late.iter().any(|m| m
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("too late"))),
        "{late:?}"
    );
    let after = s
        .list_messages(&herald_store::MessageFilter {
            channel: Some("webhook".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .len();
    assert_eq!(before, after);
}

async fn offer_codes_are_handed_out_once_each(db: &Db) {
    use herald_store::OfferRequest;
    let s = &db.store;
    let now = ts("2025-12-01T15:00:00Z");
    let codes = |v: &[&str]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    assert_eq!(
        s.add_offer_codes(&codes(&["A-1", "A-2", "A-1"]), now)
            .await
            .unwrap(),
        2
    );
    assert_eq!(s.add_offer_codes(&codes(&["A-2"]), now).await.unwrap(), 0);
    let req = |key: &str, generated: Option<&str>| OfferRequest {
        message_key: key.into(),
        order_id: 7,
        offer: "coupon 20%".into(),
        generated: generated.map(str::to_string),
    };
    let give = |r: OfferRequest| async move { s.assign_offer_code(&r, now).await.unwrap() };
    assert_eq!(give(req("m1", None)).await.as_deref(), Some("A-1"));
    assert_eq!(
        give(req("m1", None)).await.as_deref(),
        Some("A-1"),
        "a retry keeps its code"
    );
    assert_eq!(give(req("m2", None)).await.as_deref(), Some("A-2"));
    assert_eq!(give(req("m3", None)).await, None, "the pool is empty");
    assert_eq!(give(req("m4", Some("G-1"))).await.as_deref(), Some("G-1"));
    assert_eq!(give(req("m4", Some("G-2"))).await.as_deref(), Some("G-1"));
    let given = s.list_offer_codes(Some(true), 100).await.unwrap();
    let mut names: Vec<_> = given.iter().map(|c| c.code.as_str()).collect();
    names.sort();
    assert_eq!(names, ["A-1", "A-2", "G-1"]);
    assert!(
        given
            .iter()
            .all(|c| c.order_id == Some(7) && c.offer.as_deref() == Some("coupon 20%"))
    );
    assert!(
        s.list_offer_codes(Some(false), 100)
            .await
            .unwrap()
            .is_empty()
    );

    // Many senders at once (several nodes on PostgreSQL): each code goes to one message.
    let pool: Vec<String> = (0..20).map(|i| format!("P-{i:02}")).collect();
    s.add_offer_codes(&pool, now).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.spawn(async move {
            s.assign_offer_code(
                &OfferRequest {
                    message_key: format!("c{i}"),
                    order_id: i,
                    offer: "coupon 10%".into(),
                    generated: None,
                },
                now,
            )
            .await
            .unwrap()
        });
    }
    let mut got = Vec::new();
    while let Some(r) = tasks.join_next().await {
        got.push(r.unwrap().expect("a code for every message"));
    }
    got.sort();
    assert_eq!(got, pool);
}

async fn mail_lists_are_left_with_their_token(db: &Db) {
    let s = &db.store;
    let now = ts("2025-12-01T15:00:00Z");
    let m = s
        .join_mail_list("seller_digest", "Owner@Shop.com", now)
        .await
        .unwrap();
    assert_eq!(m.token.len(), 32);
    assert_eq!(m.left_at, None);
    let again = s
        .join_mail_list("seller_digest", "owner@shop.com", now)
        .await
        .unwrap();
    assert_eq!(again.token, m.token, "one place per address and list");
    assert_eq!(
        s.leave_mail_list(&m.token, now).await.unwrap(),
        Some(("seller_digest".into(), "owner@shop.com".into()))
    );
    assert_eq!(
        s.join_mail_list("seller_digest", "owner@shop.com", now)
            .await
            .unwrap()
            .left_at,
        Some(now),
        "joining again does not undo leaving"
    );
    assert_eq!(s.leave_mail_list(&"0".repeat(32), now).await.unwrap(), None);
}

fn status_board(s: herald_store::StoredStatus, now: Timestamp) -> herald_core::status::Board {
    herald_core::status::Board {
        page: herald_core::status::PageInfo {
            id: "page00000001".into(),
            name: "Shop".into(),
            url: "https://status.shop.example".into(),
            time_zone: "America/New_York".into(),
        },
        components: s.components,
        incidents: s.incidents,
        history: s.history,
        advisory: s.advisory,
        read_at: now,
    }
}

/// Plans with the core planner against what the store holds and applies the result.
async fn status_change(
    s: &Arc<dyn Store>,
    now: Timestamp,
    key: Option<(&str, &str)>,
    plan: impl FnOnce(
        &mut herald_core::status::plan::Planner<'_>,
    ) -> herald_core::status::plan::StatusWrite,
) -> (
    herald_store::StatusApplied,
    herald_core::status::plan::StatusWrite,
) {
    let stored = s
        .load_status(now - jiff::SignedDuration::from_hours(24 * 91))
        .await
        .unwrap();
    let version = stored.version;
    let board = status_board(stored, now);
    let mut n = 0;
    let mut ids = move || {
        n += 1;
        format!("id{n:010}{}", now.as_millisecond() % 100)
    };
    let w = plan(&mut herald_core::status::plan::Planner {
        board: &board,
        now,
        promises: Default::default(),
        ids: &mut ids,
    });
    (
        s.apply_status_write(version, &w, key, now).await.unwrap(),
        w,
    )
}

async fn the_status_page_is_written_whole_and_read_back(db: &Db) {
    use herald_core::status::plan::{NewComponent, NewIncident, NewUpdate};
    use herald_core::status::{ComponentStatus as C, Impact, IncidentStatus};
    use herald_store::StatusApplied;
    let s = &db.store;
    let t0 = ts("2026-11-23T15:00:00Z");
    assert_eq!(s.status_version().await.unwrap(), 0);
    let (r, w) = status_change(s, t0, None, |p| {
        p.add_component(&NewComponent {
            name: "Checkout".into(),
            group: Some("Store front".into()),
            ..Default::default()
        })
        .unwrap()
    })
    .await;
    assert_eq!(r, StatusApplied::Applied(1));
    let checkout = w
        .components
        .iter()
        .find(|c| !c.is_group)
        .unwrap()
        .id
        .clone();
    let t1 = ts("2026-11-23T15:10:00Z");
    let (r, w) = status_change(s, t1, Some(("incident:k1", "set below")), |p| {
        p.open_incident(&NewIncident {
            name: "Card payments fail".into(),
            status: IncidentStatus::Investigating,
            impact: None,
            body: "Some card payments fail; PayPal works.".into(),
            components: vec![(checkout.clone(), C::PartialOutage)],
            next_update_by: None,
            estimated_restore_at: Some(ts("2026-11-23T17:00:00Z")),
            started_at: None,
        })
        .unwrap()
    })
    .await;
    assert_eq!(r, StatusApplied::Applied(2));
    let incident_id = w.incident.unwrap().id;

    // The same request key again is recognised, and nothing is written.
    let (r, _) = status_change(s, t1, Some(("incident:k1", "other")), |p| {
        p.add_component(&NewComponent {
            name: "Search".into(),
            ..Default::default()
        })
        .unwrap()
    })
    .await;
    assert_eq!(r, StatusApplied::Duplicate("set below".into()));
    assert_eq!(
        s.status_request("incident:k1").await.unwrap().as_deref(),
        Some("set below")
    );
    assert_eq!(s.status_version().await.unwrap(), 2);

    // A write planned against an old version is refused whole.
    let stored = s
        .load_status(t0 - jiff::SignedDuration::from_hours(1))
        .await
        .unwrap();
    let mut stale = herald_core::status::plan::StatusWrite::default();
    stale.removed.push(checkout.clone());
    assert_eq!(
        s.apply_status_write(stored.version - 1, &stale, None, t1)
            .await
            .unwrap(),
        StatusApplied::Stale
    );

    let t2 = ts("2026-11-23T15:40:00Z");
    let (r, _) = status_change(s, t2, None, |p| {
        p.update_incident(
            &incident_id,
            &NewUpdate {
                status: Some(IncidentStatus::Resolved),
                body: "Payments work again.".into(),
                components: vec![(checkout.clone(), C::Operational)],
                ..Default::default()
            },
        )
        .unwrap()
    })
    .await;
    assert_eq!(r, StatusApplied::Applied(3));

    let page = s
        .load_status(t0 - jiff::SignedDuration::from_hours(1))
        .await
        .unwrap();
    assert_eq!(page.version, 3);
    assert_eq!(page.components.len(), 2, "the group and its member");
    let c = page.components.iter().find(|c| c.id == checkout).unwrap();
    assert_eq!(c.status, C::Operational);
    assert!(c.group_id.is_some());
    let i = &page.incidents[0];
    assert_eq!(i.id, incident_id);
    assert_eq!(i.status, IncidentStatus::Resolved);
    assert_eq!(i.impact, Impact::Major, "impact stays what the outage was");
    assert_eq!(i.resolved_at, Some(t2));
    assert_eq!(i.updates.len(), 2);
    assert_eq!(
        i.updates[0].status,
        IncidentStatus::Resolved,
        "newest first"
    );
    assert_eq!(
        i.updates[1].next_update_by,
        Some(ts("2026-11-23T15:40:00Z"))
    );
    assert_eq!(
        i.updates[1].estimated_restore_at,
        Some(ts("2026-11-23T17:00:00Z"))
    );
    assert_eq!(
        i.updates[1].affected_components[0].old_status,
        C::Operational
    );
    assert_eq!(
        i.updates[1].affected_components[0].new_status,
        C::PartialOutage
    );
    let h = &page.history[&checkout];
    assert_eq!(
        h.iter().map(|c| (c.at, c.status)).collect::<Vec<_>>(),
        vec![
            (t0, C::Operational),
            (t1, C::PartialOutage),
            (t2, C::Operational)
        ]
    );
    // A window starting later still knows the state at its start.
    let later = s.load_status(ts("2026-11-23T15:20:00Z")).await.unwrap();
    assert_eq!(later.history[&checkout][0].status, C::PartialOutage);
    // Resolved long ago: out of the window.
    let future = s.load_status(ts("2027-01-01T00:00:00Z")).await.unwrap();
    assert!(future.incidents.is_empty());

    // Promise reminders are alerts, raised once per key, and owe the seller a message.
    let r = herald_core::status::PromiseReminder {
        dedupe_key: format!("status:{incident_id}:u:soon"),
        kind: "incident_update_due",
        due_at: t2,
        message: "post an update".into(),
    };
    assert!(s.raise_status_alert(&r, t2).await.unwrap());
    assert!(!s.raise_status_alert(&r, t2).await.unwrap());
    let alerts = s.list_alerts(None, 100).await.unwrap();
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a.kind == "incident_update_due")
            .count(),
        1
    );
    let msgs = s
        .list_messages(&herald_store::MessageFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(msgs.items.iter().any(|m| m.kind.as_str() == "seller_alert"));
}

async fn two_nodes_changing_the_status_page_at_once_never_interleave(db: &Db) {
    use herald_core::status::plan::NewComponent;
    use herald_store::StatusApplied;
    let s = db.store.clone();
    let now = ts("2026-11-23T15:00:00Z");
    let stored = s.load_status(now).await.unwrap();
    let version = stored.version;
    let board = status_board(stored, now);
    let mut writes = Vec::new();
    for n in 0..6 {
        let mut ids = move || format!("node{n}comp0001");
        writes.push(
            herald_core::status::plan::Planner {
                board: &board,
                now,
                promises: Default::default(),
                ids: &mut ids,
            }
            .add_component(&NewComponent {
                name: format!("Component {n}"),
                ..Default::default()
            })
            .unwrap(),
        );
    }
    let tasks: Vec<_> = writes
        .into_iter()
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move { s.apply_status_write(version, &w, None, now).await.unwrap() })
        })
        .collect();
    let mut applied = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusApplied::Applied(v) => {
                applied += 1;
                assert_eq!(v, version + 1);
            }
            StatusApplied::Stale => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        applied, 1,
        "one plan per version wins; the others must plan again"
    );
    assert_eq!(s.load_status(now).await.unwrap().components.len(), 1);
}

async fn the_store_advisory_is_declared_replaced_and_cleared(db: &Db) {
    use herald_core::status::advisory::AdvisoryLevel;
    use herald_core::status::plan::NewAdvisory;
    use herald_store::StatusApplied;
    let s = &db.store;
    let t0 = ts("2026-11-23T15:00:00Z");
    let since = t0 - jiff::SignedDuration::from_hours(24);
    assert_eq!(s.load_status(since).await.unwrap().advisory, None);
    let (r, _) = status_change(s, t0, None, |p| {
        p.set_advisory(&NewAdvisory {
            message: "Browsing works; ordering is paused".into(),
            level: Some(AdvisoryLevel::Critical),
            until: Some(ts("2026-11-23T20:00:00Z")),
            expires_at: None,
        })
        .unwrap()
    })
    .await;
    assert_eq!(r, StatusApplied::Applied(1));
    let a = s.load_status(since).await.unwrap().advisory.unwrap();
    assert_eq!(a.message, "Browsing works; ordering is paused");
    assert_eq!(a.level, AdvisoryLevel::Critical);
    assert_eq!(a.until, Some(ts("2026-11-23T20:00:00Z")));
    assert_eq!(a.expires_at, None);
    assert_eq!(a.updated_at, t0);
    // A new one replaces it whole.
    let t1 = ts("2026-11-23T16:00:00Z");
    status_change(s, t1, None, |p| {
        p.set_advisory(&NewAdvisory {
            message: "Orders ship a day later this week".into(),
            level: Some(AdvisoryLevel::Info),
            until: None,
            expires_at: Some(ts("2026-11-28T00:00:00Z")),
        })
        .unwrap()
    })
    .await;
    let stored = s.load_status(since).await.unwrap();
    let a = stored.advisory.unwrap();
    assert_eq!(
        (a.message.as_str(), a.level, a.until, a.expires_at),
        (
            "Orders ship a day later this week",
            AdvisoryLevel::Info,
            None,
            Some(ts("2026-11-28T00:00:00Z"))
        )
    );
    assert_eq!(stored.version, 2, "every node re-reads the page");
    let (r, _) = status_change(s, t1, None, |p| p.clear_advisory().unwrap()).await;
    assert_eq!(r, StatusApplied::Applied(3));
    assert_eq!(s.load_status(since).await.unwrap().advisory, None);
}

async fn problem_reports_are_kept_and_the_form_key_is_shared(db: &Db) {
    let s = &db.store;
    let t0 = ts("2026-11-23T15:00:00Z");
    let a = s
        .add_status_report(Some("c0checkout01"), "Card declined", t0)
        .await
        .unwrap();
    let b = s
        .add_status_report(None, "", t0 + jiff::SignedDuration::from_mins(5))
        .await
        .unwrap();
    assert!(b > a);
    let all = s.status_reports_since(t0, 100).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].id, b, "newest first");
    assert_eq!(all[0].component_id, None);
    assert_eq!(all[1].component_id.as_deref(), Some("c0checkout01"));
    assert_eq!(all[1].what, "Card declined");
    assert_eq!(all[1].reported_at, t0);
    let later = s
        .status_reports_since(t0 + jiff::SignedDuration::from_mins(1), 100)
        .await
        .unwrap();
    assert_eq!(later.iter().map(|r| r.id).collect::<Vec<_>>(), vec![b]);
    assert_eq!(s.status_reports_since(t0, 1).await.unwrap().len(), 1);
    // The first node to need the key makes it; every other node gets that one.
    let k1 = s.shared_secret("report_form", "first", t0).await.unwrap();
    let k2 = s.shared_secret("report_form", "second", t0).await.unwrap();
    assert_eq!((k1.as_str(), k2.as_str()), ("first", "first"));
    assert_eq!(s.shared_secret("other", "x", t0).await.unwrap(), "x");
}

async fn each_update_reaches_each_subscriber_who_wants_it_once(db: &Db) {
    use herald_core::notify::MessageKind;
    use herald_core::status::notice::{Notice, NoticeEvent, Subscriber, SubscriberChannel};
    use herald_core::status::plan::{NewComponent, NewIncident, NewUpdate};
    use herald_core::status::{ComponentStatus as C, IncidentStatus};
    let s = &db.store;
    let t0 = ts("2026-11-23T15:00:00Z");
    let (_, w) = status_change(s, t0, None, |p| {
        p.add_component(&NewComponent {
            name: "Checkout".into(),
            ..Default::default()
        })
        .unwrap()
    })
    .await;
    let checkout = w.components[0].id.clone();
    let sub = |n: u32, picked: &[&str], confirmed: bool| Subscriber {
        id: 0,
        token: format!("{n:032}"),
        channel: if n == 6 {
            SubscriberChannel::Webhook
        } else {
            SubscriberChannel::Email
        },
        address: format!("reader{n}@shop.test"),
        component_ids: picked.iter().map(|c| c.to_string()).collect(),
        pending_component_ids: None,
        secret: None,
        created_at: t0,
        confirmed_at: confirmed.then_some(t0),
        left_at: None,
    };
    let all = s.add_status_subscriber(&sub(1, &[], true)).await.unwrap();
    assert!(all.id > 0 && all.active());
    let picked = s
        .add_status_subscriber(&sub(2, &[&checkout], true))
        .await
        .unwrap();
    let other = s
        .add_status_subscriber(&sub(3, &["elsewhere"], true))
        .await
        .unwrap();
    let unconfirmed = s.add_status_subscriber(&sub(4, &[], false)).await.unwrap();
    let mut gone = s.add_status_subscriber(&sub(5, &[], true)).await.unwrap();
    gone.left_at = Some(t0);
    assert!(s.update_status_subscriber(&gone).await.unwrap());
    let hook = s.add_status_subscriber(&sub(6, &[], true)).await.unwrap();
    // The same address again: the one already there, unchanged.
    let again = s
        .add_status_subscriber(&sub(1, &["x"], false))
        .await
        .unwrap();
    assert_eq!(again, all);
    assert_eq!(
        s.status_subscriber_by_token(&format!("{:032}", 2))
            .await
            .unwrap()
            .unwrap()
            .id,
        picked.id
    );
    assert_eq!(
        s.get_status_subscriber(other.id)
            .await
            .unwrap()
            .unwrap()
            .address,
        "reader3@shop.test"
    );
    assert_eq!(s.list_status_subscribers(0, 100).await.unwrap().len(), 6);
    assert_eq!(
        s.list_status_subscribers(unconfirmed.id, 100)
            .await
            .unwrap()
            .len(),
        2
    );

    // Opening an incident on Checkout owes one notice; fanned out in batches of two.
    let t1 = ts("2026-11-23T15:10:00Z");
    let (_, w) = status_change(s, t1, None, |p| {
        p.open_incident(&NewIncident {
            name: "Card payments fail".into(),
            status: IncidentStatus::Investigating,
            impact: None,
            body: "Looking into it".into(),
            components: vec![(checkout.clone(), C::PartialOutage)],
            next_update_by: None,
            estimated_restore_at: None,
            started_at: None,
        })
        .unwrap()
    })
    .await;
    let incident = w.incident.unwrap().id;
    let mut enqueued = 0;
    let mut steps = 0;
    while let Some(n) = s.fan_out_status_notices(t1, 2).await.unwrap() {
        enqueued += n;
        steps += 1;
        assert!(steps < 10);
    }
    assert_eq!(
        enqueued, 3,
        "everything, Checkout, and the webhook; not the others"
    );
    assert_eq!(
        steps, 3,
        "six subscribers, two at a time (the last step finds fewer)"
    );
    assert_eq!(s.fan_out_status_notices(t1, 2).await.unwrap(), None, "done");
    let listed = s
        .list_messages(&herald_store::MessageFilter {
            kind: Some(MessageKind::StatusNotice),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut to: Vec<i64> = listed
        .items
        .iter()
        .map(|m| m.facts["subscriber_id"].as_i64().unwrap())
        .collect();
    to.sort();
    assert_eq!(to, vec![all.id, picked.id, hook.id]);
    let m = listed
        .items
        .iter()
        .find(|m| m.facts["subscriber_id"] == hook.id)
        .unwrap();
    assert_eq!(m.facts["webhook"], true);
    let notice = s
        .get_status_notice(m.facts["notice_id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(notice.notice.event, NoticeEvent::IncidentCreated);
    assert_eq!(notice.notice.incident_id, incident);
    assert_eq!(notice.notice.component_ids, vec![checkout.clone()]);

    // Resolving owes a second notice; it reaches the same people once more.
    let t2 = ts("2026-11-23T15:40:00Z");
    status_change(s, t2, None, |p| {
        p.update_incident(
            &incident,
            &NewUpdate {
                status: Some(IncidentStatus::Resolved),
                body: "Fixed".into(),
                components: vec![(checkout.clone(), C::Operational)],
                ..Default::default()
            },
        )
        .unwrap()
    })
    .await;
    let mut more = 0;
    while let Some(n) = s.fan_out_status_notices(t2, 500).await.unwrap() {
        more += n;
    }
    assert_eq!(more, 3);

    // A reminder is stored once per key.
    let r = Notice {
        key: "reminder:m1".into(),
        incident_id: "m1".into(),
        update_id: None,
        event: NoticeEvent::MaintenanceReminder,
        component_ids: vec![],
    };
    assert!(s.add_status_notice(&r, t2).await.unwrap());
    assert!(!s.add_status_notice(&r, t2).await.unwrap());
}

async fn postgres_tells_listeners_of_each_status_change(db: &Db) {
    use herald_core::status::plan::NewComponent;
    let s = &db.store;
    let Some(mut rx) = s.status_changes() else {
        assert_eq!(s.kind(), "sqlite", "only SQLite leaves nodes to poll");
        return;
    };
    // The listener connects in the background; wait until it hears a change.
    let t0 = ts("2026-11-23T15:00:00Z");
    let mut heard = None;
    for n in 0..50 {
        status_change(s, t0, None, |p| {
            p.add_component(&NewComponent {
                name: format!("Component {n}"),
                ..Default::default()
            })
            .unwrap()
        })
        .await;
        if let Ok(Some(v)) =
            tokio::time::timeout(std::time::Duration::from_millis(200), rx.recv()).await
        {
            heard = Some(v);
            break;
        }
    }
    let first = heard.expect("a change was told within 10 seconds");
    // From then on, each change is told with its version.
    let v = s.status_version().await.unwrap();
    assert!(first <= v);
    while let Ok(Some(_)) =
        tokio::time::timeout(std::time::Duration::from_millis(100), rx.recv()).await
    {}
    status_change(s, t0, None, |p| {
        p.add_component(&NewComponent {
            name: "One more".into(),
            ..Default::default()
        })
        .unwrap()
    })
    .await;
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
        .await
        .expect("told within 5 s")
        .unwrap();
    assert_eq!(next, v + 1);
}
