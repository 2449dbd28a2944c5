//! Rebuilds the store when a migration is added: `sqlx::migrate!` embeds the PostgreSQL
//! migrations at compile time and cannot see new files by itself.

fn main() {
    println!("cargo::rerun-if-changed=migrations");
}
