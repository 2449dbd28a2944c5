//! Boils the `zipcodes` crate's US postal-code data set down to the table herald needs to place
//! a scan on the map: one line per postal code, `ZIP|LAT|LON|CITY|STATE`, sorted by code. The
//! crate's full records (area codes, counties, alternative names...) stay out of the binary, and
//! nothing is decompressed or fetched when herald runs.

use std::fmt::Write as _;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let mut rows: Vec<(String, String)> = Vec::new();
    for z in zipcodes::database() {
        let (Ok(lat), Ok(lon)) = (z.lat.parse::<f64>(), z.long.parse::<f64>()) else {
            continue;
        };
        if z.zip_code.len() != 5 || (lat == 0.0 && lon == 0.0) {
            continue;
        }
        let mut line = String::new();
        write!(
            line,
            "{}|{:.4}|{:.4}|{}|{}",
            z.zip_code,
            lat,
            lon,
            z.city.to_uppercase(),
            z.state.to_uppercase()
        )
        .expect("writing to a string");
        rows.push((z.zip_code.clone(), line));
    }
    rows.sort();
    rows.dedup_by(|a, b| a.0 == b.0);
    let table: Vec<String> = rows.into_iter().map(|(_, l)| l).collect();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("us_postal_codes.txt"), table.join("\n"))
        .expect("writing the gazetteer table");
}
