use herald_core::deadline::ShipByPolicy;
use herald_core::order::{NewOrder, OrderInput};
use herald_store::{SqliteStore, Store, StoreOptions};
use std::time::Instant;
#[tokio::main]
async fn main() {
    let _ = std::fs::remove_dir_all("/tmp/ex/db");
    std::fs::create_dir_all("/tmp/ex/db").unwrap();
    let s = SqliteStore::open("sqlite:///tmp/ex/db/a.db", &StoreOptions::default())
        .await
        .unwrap();
    let orders: Vec<NewOrder> = (0..100_000).map(|i| {
        let j = serde_json::json!({"channel":"shopify","external_id":format!("B{i}"),"number":format!("#{i}"),
          "customer":{"name":"Buyer","email":format!("b{i}@x.io")},
          "shipping_address":{"name":"Buyer","line1":"1 Main St","city":"Flagstaff","region":"AZ","postal_code":"86001","country":"US"},
          "items":[{"sku":"MUG-1","name":"Sandstone mug","quantity":2,"price":"28.00"},{"sku":"CUP-2","name":"Espresso cup pair","quantity":1,"price":"36.00"}],
          "currency":"USD","subtotal":"92.00","total":"99.50","placed_at":"2025-12-06T15:37:33Z","paid_at":"2025-12-06T15:37:33Z"});
        serde_json::from_value::<OrderInput>(j).unwrap().validate().unwrap()
    }).collect();
    let p = ShipByPolicy::default();
    let t = Instant::now();
    for c in orders.chunks(1000) {
        s.upsert_orders(c, &p, jiff::Timestamp::now())
            .await
            .unwrap();
    }
    println!(
        "store upsert: {:.0} orders/s",
        100_000.0 / t.elapsed().as_secs_f64()
    );
}
