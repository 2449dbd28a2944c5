//! Where things are: an offline US postal-code and city/state gazetteer (compiled in from the
//! `zipcodes` data set by `build.rs`; nothing is fetched at run time), great-circle distances,
//! and how far a point lies off the route between two others.

use crate::short::Short;
use crate::tracking::ScanLocation;
// foldhash rather than std's SipHash: every scan judged looks up its place here, and the keys
// are the gazetteer's own, not anyone's input, so SipHash's guard against crafted keys buys
// nothing (measured together with the stack-built keys in docs/benchmarks.md).
use foldhash::{HashMap, HashMapExt};
use std::sync::LazyLock;

/// Mean Earth radius, km.
const EARTH_KM: f64 = 6371.0;

/// A point on Earth in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coord {
    pub lat: f64,
    pub lon: f64,
}

struct Gazetteer {
    by_postal_code: HashMap<u32, Coord>,
    /// `CITY|ST` (uppercase) to the mean of the city's postal codes.
    by_city: HashMap<String, Coord>,
}

static GAZETTEER: LazyLock<Gazetteer> = LazyLock::new(|| {
    let table = include_str!(concat!(env!("OUT_DIR"), "/us_postal_codes.txt"));
    let mut by_postal_code = HashMap::with_capacity(42_000);
    let mut sums: std::collections::HashMap<String, (f64, f64, u32)> =
        std::collections::HashMap::with_capacity(30_000);
    for line in table.lines() {
        let mut f = line.split('|');
        let (Some(zip), Some(lat), Some(lon), Some(city), Some(state)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let (Ok(zip), Ok(lat), Ok(lon)) = (zip.parse::<u32>(), lat.parse(), lon.parse()) else {
            continue;
        };
        by_postal_code.insert(zip, Coord { lat, lon });
        let e = sums
            .entry(format!("{city}|{state}"))
            .or_insert((0.0, 0.0, 0));
        e.0 += lat;
        e.1 += lon;
        e.2 += 1;
    }
    let by_city = sums
        .into_iter()
        .map(|(k, (lat, lon, n))| {
            (
                k,
                Coord {
                    lat: lat / f64::from(n),
                    lon: lon / f64::from(n),
                },
            )
        })
        .collect();
    Gazetteer {
        by_postal_code,
        by_city,
    }
});

/// The coordinates of a US postal code (`86001`, `86001-1234`, `86001 1234`).
pub fn postal_code(code: &str) -> Option<Coord> {
    let code = code.trim();
    let five = code.get(..5)?;
    if !five.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = &code[5..];
    if !(rest.is_empty()
        || (rest.len() == 5
            && matches!(rest.as_bytes()[0], b'-' | b' ')
            && rest[1..].bytes().all(|b| b.is_ascii_digit())))
    {
        return None;
    }
    GAZETTEER.by_postal_code.get(&five.parse().ok()?).copied()
}

/// The coordinates of a US city, by name and two-letter state (`Anchorage`, `AK`).
pub fn city(name: &str, state: &str) -> Option<Coord> {
    // The rules place every scan they judge: the usual short ASCII name's key is built on the
    // stack.
    if let Some(key) = ascii_city_key(name, state) {
        return GAZETTEER.by_city.get(key.as_str()).copied();
    }
    GAZETTEER.by_city.get(&city_key(name, state)).copied()
}

/// The gazetteer's key of a city: words upper-cased and single-spaced, `|`, the state.
fn city_key(name: &str, state: &str) -> String {
    // In one allocation.
    let mut key = String::with_capacity(name.len() + state.len() + 1);
    let upper = |key: &mut String, word: &str| {
        if word.is_ascii() {
            // The usual case, a byte at a time (the same as the general rule for ASCII).
            let at = key.len();
            key.push_str(word);
            key[at..].make_ascii_uppercase();
        } else {
            key.extend(word.chars().flat_map(char::to_uppercase));
        }
    };
    for (i, word) in name.split_whitespace().enumerate() {
        if i > 0 {
            key.push(' ');
        }
        upper(&mut key, word);
    }
    key.push('|');
    upper(&mut key, state.trim());
    key
}

/// [`city`]'s key for an ASCII name and state, on the stack; `None` when either is not ASCII
/// or the key does not fit.
fn ascii_city_key(name: &str, state: &str) -> Option<Short<64>> {
    if !name.is_ascii() || !state.is_ascii() {
        return None;
    }
    let mut key = Short::new();
    for (i, word) in name.split_whitespace().enumerate() {
        if i > 0 {
            key.push_ascii(b' ')?;
        }
        key.push_str(word)?;
    }
    key.push_ascii(b'|')?;
    key.push_str(state.trim())?;
    key.make_ascii_uppercase();
    Some(key)
}

/// Where a scan happened: by its postal code, else by city and state. Only US places are
/// known; a scan elsewhere has no position.
pub fn locate(loc: &ScanLocation) -> Option<Coord> {
    if let Some(c) = loc.country.as_deref().map(str::trim)
        && !c.is_empty()
        && !matches!(
            c.to_ascii_uppercase().as_str(),
            "US" | "USA" | "UNITED STATES"
        )
    {
        return None;
    }
    loc.postal_code
        .as_deref()
        .and_then(postal_code)
        .or_else(|| city(loc.city.as_deref()?, loc.region.as_deref()?))
}

fn unit(c: Coord) -> [f64; 3] {
    let (lat, lon) = (c.lat.to_radians(), c.lon.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// The great-circle distance between two unit vectors, in km.
fn arc_km(a: [f64; 3], b: [f64; 3]) -> f64 {
    let c = cross(a, b);
    dot(c, c).sqrt().atan2(dot(a, b)) * EARTH_KM
}

/// Great-circle distance in km.
pub fn distance_km(a: Coord, b: Coord) -> f64 {
    arc_km(unit(a), unit(b))
}

/// How far `p` lies from the great-circle segment between `from` and `to`, in km: the
/// perpendicular distance where `p` falls beside the segment, else the distance to the nearer
/// end.
pub fn off_route_km(from: Coord, to: Coord, p: Coord) -> f64 {
    Segment::new(from, to).off_km(p)
}

/// The great-circle segment between two points, worked out once for the distances to it (the
/// rules measure every judged scan against its parcel's route; the trigonometry of the ends
/// was a tenth of their work when redone for each).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    from: [f64; 3],
    to: [f64; 3],
    /// The unit normal of the segment's plane; `None` when the ends are the same or opposite.
    normal: Option<[f64; 3]>,
    /// The segment's length.
    pub length_km: f64,
}

impl Segment {
    pub fn new(from: Coord, to: Coord) -> Self {
        let (a, b) = (unit(from), unit(to));
        let n = cross(a, b);
        let n_len = dot(n, n).sqrt();
        Self {
            from: a,
            to: b,
            normal: (n_len >= 1e-12).then(|| [n[0] / n_len, n[1] / n_len, n[2] / n_len]),
            length_km: arc_km(a, b),
        }
    }

    /// How far `p` lies from the segment, in km (see [`off_route_km`]).
    pub fn off_km(&self, p: Coord) -> f64 {
        let x = unit(p);
        let ends = || arc_km(self.from, x).min(arc_km(self.to, x));
        let Some(n) = self.normal else {
            return ends();
        };
        // The point's projection lies between the ends when it is on the inner side of both.
        let beside = dot(cross(self.from, x), n) >= 0.0 && dot(cross(x, self.to), n) >= 0.0;
        if beside {
            (dot(n, x).clamp(-1.0, 1.0).asin() * EARTH_KM).abs()
        } else {
            ends()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(city_name: &str, state: &str) -> ScanLocation {
        ScanLocation {
            city: Some(city_name.into()),
            region: Some(state.into()),
            ..Default::default()
        }
    }

    #[test]
    fn places_are_found_by_postal_code_or_city() {
        let flagstaff = postal_code("86001").unwrap();
        assert!((flagstaff.lat - 35.2).abs() < 0.5 && (flagstaff.lon + 111.6).abs() < 0.5);
        assert_eq!(postal_code("86001-1234"), Some(flagstaff));
        assert_eq!(postal_code("8600"), None);
        assert_eq!(postal_code("86001x"), None);
        let anchorage = locate(&loc("anchorage", "ak")).unwrap();
        assert!((anchorage.lat - 61.2).abs() < 0.5);
        assert!(locate(&loc("Kenly", "NC")).is_some());
        // Case and spacing do not matter, in ASCII or not.
        let st_louis = city("Saint Louis", "MO").unwrap();
        assert_eq!(city("  saint\t  LOUIS ", " mo "), Some(st_louis));
        // (The long s upper-cases to S.)
        assert_eq!(city("ſaint louiſ", "mo"), Some(st_louis));
        assert!(
            locate(&ScanLocation {
                country: Some("DE".into()),
                ..loc("Berlin", "NJ")
            })
            .is_none()
        );
    }

    proptest::proptest! {
        /// A city's key built on the stack is the one built on the heap.
        #[test]
        fn city_keys_on_the_stack_match(name in "[ -~\t\n\x0b\x0c\r]{0,70}", state in "[ -~\x0b]{0,4}") {
            if let Some(key) = ascii_city_key(&name, &state) {
                proptest::prop_assert_eq!(key.as_str(), city_key(&name, &state));
            }
        }
    }

    #[test]
    fn a_segment_measures_as_the_distances_do() {
        let (from, to) = (postal_code("95814").unwrap(), postal_code("08817").unwrap());
        let path = Segment::new(from, to);
        assert!((path.length_km - distance_km(from, to)).abs() < 1e-9);
        // Beyond an end, the distance to that end.
        let honolulu = postal_code("96813").unwrap();
        assert!((path.off_km(honolulu) - distance_km(from, honolulu)).abs() < 1e-9);
        // A segment of one point measures the distance to it.
        let point = Segment::new(from, from);
        assert!((point.off_km(to) - distance_km(from, to)).abs() < 1e-9);
    }

    #[test]
    fn distances_match_the_map() {
        let nyc = postal_code("10001").unwrap();
        let la = postal_code("90012").unwrap();
        let d = distance_km(nyc, la);
        assert!((3900.0..4000.0).contains(&d), "{d}");
    }

    #[test]
    fn an_alaska_scan_is_far_off_a_california_to_new_jersey_route() {
        let (from, to) = (postal_code("95814").unwrap(), postal_code("08817").unwrap());
        let anchorage = locate(&loc("Anchorage", "AK")).unwrap();
        assert!(off_route_km(from, to, anchorage) > 2500.0);
        let chicago = locate(&loc("Chicago", "IL")).unwrap();
        assert!(off_route_km(from, to, chicago) < 300.0);
    }

    #[test]
    fn a_florida_to_new_york_ground_journey_stays_on_route() {
        let (from, to) = (postal_code("32801").unwrap(), postal_code("11201").unwrap());
        let route = distance_km(from, to);
        for (c, s) in [("Kenly", "NC"), ("Edison", "NJ"), ("Brooklyn", "NY")] {
            let off = off_route_km(from, to, locate(&loc(c, s)).unwrap());
            assert!(off < 300f64.max(route * 0.25), "{c}: {off} km");
        }
    }
}
