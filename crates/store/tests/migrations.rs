//! Migrations that move stored data, checked on data written by the version before them, on
//! SQLite and on PostgreSQL (`HERALD_TEST_POSTGRES_URL`, default the local server; with
//! `CI=true` an unreachable PostgreSQL fails the run, elsewhere the test skips with a note).

use std::path::Path;

/// The migration files of one database, in order: (number, SQL).
fn migrations(database: &str) -> Vec<(u32, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(database);
    let mut files: Vec<(u32, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| {
            let path = f.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let n = name[..4].parse().unwrap();
            (n, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Two shipments as version 13 stored them: one in transit with a digest, one stored before
/// digests were kept.
const SHIPMENTS_AT_13: &str = "\
    INSERT INTO orders (channel, external_id, number, state, data, history, placed_at, ship_by, at_risk_from, as_of, created_at, updated_at) \
        VALUES ('shop', 'A1', '#1001', 'shipped', '{}', '[]', 1, 2, 3, 4, 5, 6); \
    INSERT INTO shipments (order_id, carrier, tracking_number, status, status_at, created_at, updated_at, next_check_at, digest) \
        VALUES (1, 'usps', '9400A', 'in_transit', 1700000000000000, 1690000000000000, 1700000500000000, 1700200000000000, '[[1700000000000000,\"in_transit\"]]'), \
               (1, 'ups', '1ZB', 'delivered', 1690500000000000, 1690000000000000, 1690600000000000, NULL, NULL);";

/// What version 14 must hold: each shipment's state (status, since, digest, changed at) and its
/// own row (updated at, next check).
const STATES_AT_14: &str = "\
    SELECT s.tracking_number, p.status, CAST(p.status_at AS TEXT), COALESCE(p.digest, '-'), CAST(p.changed_at AS TEXT), \
           CAST(s.updated_at AS TEXT), COALESCE(CAST(s.next_check_at AS TEXT), '-') \
    FROM shipments s JOIN parcel_states p ON p.shipment_id = s.id ORDER BY s.id";

fn expected() -> Vec<Vec<String>> {
    [
        [
            "9400A",
            "in_transit",
            "1700000000000000",
            "[[1700000000000000,\"in_transit\"]]",
            "1700000500000000",
            "1700000500000000",
            "1700200000000000",
        ],
        [
            "1ZB",
            "delivered",
            "1690500000000000",
            "-",
            "1690600000000000",
            "1690600000000000",
            "-",
        ],
    ]
    .iter()
    .map(|r| r.iter().map(|v| v.to_string()).collect())
    .collect()
}

#[test]
fn parcel_states_take_each_shipments_tracking_state_on_sqlite() {
    let c = rusqlite::Connection::open_in_memory().unwrap();
    let all = migrations("sqlite");
    for (_, sql) in all.iter().filter(|(n, _)| *n <= 13) {
        c.execute_batch(sql).unwrap();
    }
    c.execute_batch(SHIPMENTS_AT_13).unwrap();
    for (_, sql) in all.iter().filter(|(n, _)| *n == 14) {
        c.execute_batch(sql).unwrap();
    }
    let mut st = c.prepare(STATES_AT_14).unwrap();
    let got: Vec<Vec<String>> = st
        .query_map([], |r| (0..7).map(|i| r.get::<_, String>(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, expected());
    let moved = c
        .prepare("SELECT status FROM shipments")
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(moved.contains("no such column"), "{moved}");
}

#[tokio::test]
async fn parcel_states_take_each_shipments_tracking_state_on_postgres() {
    use sqlx::{Connection, Row};
    let admin = std::env::var("HERALD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut a = match sqlx::PgConnection::connect(&admin).await {
        Ok(a) => a,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipping the PostgreSQL migration test: {admin} is unreachable ({e})");
            return;
        }
        Err(e) => panic!("PostgreSQL is required in CI but {admin} is unreachable: {e}"),
    };
    let name = format!("herald_migration_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut a)
        .await
        .unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let checked = async {
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        let all = migrations("postgres");
        for (_, sql) in all.iter().filter(|(n, _)| *n <= 13) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&mut c)
                .await
                .unwrap();
        }
        sqlx::raw_sql(SHIPMENTS_AT_13)
            .execute(&mut c)
            .await
            .unwrap();
        for (_, sql) in all.iter().filter(|(n, _)| *n == 14) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&mut c)
                .await
                .unwrap();
        }
        let got: Vec<Vec<String>> = sqlx::query(STATES_AT_14)
            .fetch_all(&mut c)
            .await
            .unwrap()
            .iter()
            .map(|r| (0..7).map(|i| r.get::<String, _>(i)).collect())
            .collect();
        assert_eq!(got, expected());
        let moved = sqlx::query("SELECT status FROM shipments")
            .fetch_all(&mut c)
            .await
            .unwrap_err()
            .to_string();
        assert!(moved.contains("does not exist"), "{moved}");
        c.close().await.unwrap();
    };
    checked.await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut a)
    .await
    .unwrap();
}
