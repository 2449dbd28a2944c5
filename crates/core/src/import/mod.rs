//! Parsers for the order exports sellers already have: Shopify's orders CSV and Amazon Seller
//! Central's tab-separated order reports.
//!
//! Each parser turns a whole file into checked [`NewOrder`]s plus a list of [`RowError`]s that
//! name the line, the column and what is wrong. An order with any bad row is left out whole, so
//! nothing is ever half-imported; the caller decides whether good orders still go in.

pub mod amazon;
pub mod shopify;

use crate::order::NewOrder;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// A problem with one line of an import file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// The column at fault, by its header name, when one is.
    pub column: Option<String>,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "line {}, column {c:?}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// A parsed order and the lines of the file it came from.
#[derive(Debug, Clone)]
pub struct ParsedOrder {
    pub order: NewOrder,
    pub lines: Vec<u64>,
}

/// Everything a file yielded.
#[derive(Debug, Default)]
pub struct ParsedFile {
    pub orders: Vec<ParsedOrder>,
    pub errors: Vec<RowError>,
}

/// The file could not be read as that format at all (no header, missing required column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

/// Parses the instants the exports use: RFC 3339 (`2025-12-06T15:37:33+00:00`), Shopify's
/// `2025-12-06 10:37:33 -0500`, and the same with `T` or without seconds.
pub fn parse_instant(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%d %H:%M:%S%z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%d %H:%M %z",
    ] {
        if let Ok(t) = jiff::fmt::strtime::parse(fmt, s).and_then(|b| b.to_timestamp()) {
            return Some(t);
        }
    }
    None
}

/// A header row mapped to column positions, looked up by (case-insensitive) name.
pub(crate) struct Header {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Header {
    pub(crate) fn new(record: &csv::StringRecord) -> Self {
        let names: Vec<String> = record
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        let mut index = HashMap::new();
        for (i, n) in names.iter().enumerate() {
            index.entry(n.to_ascii_lowercase()).or_insert(i);
        }
        Self { names, index }
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// The position of the first of `names` present.
    pub(crate) fn find(&self, names: &[&str]) -> Option<usize> {
        names
            .iter()
            .find_map(|n| self.index.get(&n.to_ascii_lowercase()).copied())
    }

    pub(crate) fn name(&self, i: usize) -> &str {
        &self.names[i]
    }
}

/// One data row with helpers that record errors against its line and column names.
pub(crate) struct Row<'a> {
    pub(crate) line: u64,
    record: &'a csv::StringRecord,
    header: &'a Header,
    pub(crate) errors: Vec<RowError>,
}

impl<'a> Row<'a> {
    pub(crate) fn new(line: u64, record: &'a csv::StringRecord, header: &'a Header) -> Self {
        Self {
            line,
            record,
            header,
            errors: Vec::new(),
        }
    }

    /// The trimmed, non-empty value of a column (`None` if absent or blank).
    pub(crate) fn get(&self, col: Option<usize>) -> Option<&'a str> {
        let v = self.record.get(col?)?.trim();
        (!v.is_empty()).then_some(v)
    }

    pub(crate) fn text(&self, col: Option<usize>) -> Option<String> {
        self.get(col).map(str::to_string)
    }

    pub(crate) fn fail(&mut self, col: Option<usize>, reason: impl Into<String>) {
        self.errors.push(RowError {
            line: self.line,
            column: col.map(|c| self.header.name(c).to_string()),
            reason: reason.into(),
        });
    }

    pub(crate) fn instant(&mut self, col: Option<usize>) -> Option<Timestamp> {
        let v = self.get(col)?;
        let t = parse_instant(v);
        if t.is_none() {
            self.fail(
                col,
                format!("{v:?} is not a date and time (expected e.g. 2025-12-06 10:37:33 -0500)"),
            );
        }
        t
    }

    pub(crate) fn count(&mut self, col: Option<usize>) -> Option<u32> {
        let v = self.get(col)?;
        match v.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.fail(col, format!("{v:?} is not a whole number"));
                None
            }
        }
    }

    pub(crate) fn amount(&mut self, col: Option<usize>) -> Option<String> {
        let v = self.get(col)?;
        if crate::order::is_decimal(v) {
            Some(v.to_string())
        } else {
            self.fail(col, format!("{v:?} is not a decimal amount"));
            None
        }
    }
}

/// A data row and its 1-based line number.
pub(crate) type NumberedRecord = (u64, csv::StringRecord);

/// Reads a delimited file into its header and records with their line numbers. Records that
/// cannot be read (bad UTF-8, wrong field count) become row errors.
pub(crate) fn read_records(
    bytes: &[u8],
    delimiter: u8,
) -> Result<(Header, Vec<NumberedRecord>, Vec<RowError>), FormatError> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .quoting(delimiter == b',')
        .from_reader(bytes);
    let mut records = rdr.records();
    let header = match records.next() {
        Some(Ok(h)) => Header::new(&h),
        Some(Err(e)) => return Err(FormatError(format!("the header line cannot be read: {e}"))),
        None => {
            return Err(FormatError(
                "the file is empty: expected a header line".into(),
            ));
        }
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for rec in records {
        match rec {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line());
                if r.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                if r.len() > header.len() {
                    errors.push(RowError {
                        line,
                        column: None,
                        reason: format!(
                            "the row has {} fields but the header has {}",
                            r.len(),
                            header.len()
                        ),
                    });
                    continue;
                }
                rows.push((line, r));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError {
                    line,
                    column: None,
                    reason: format!("the row cannot be read: {e}"),
                });
            }
        }
    }
    Ok((header, rows, errors))
}

/// Groups rows by an order key, keeping the order in which keys first appear.
pub(crate) fn group_by_key<T>(items: Vec<(String, T)>) -> Vec<(String, Vec<T>)> {
    let mut pos: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<(String, Vec<T>)> = Vec::new();
    for (k, v) in items {
        match pos.get(&k) {
            Some(&i) => groups[i].1.push(v),
            None => {
                pos.insert(k.clone(), groups.len());
                groups.push((k, vec![v]));
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_in_every_export_style() {
        let want: Timestamp = "2025-12-06T15:37:33Z".parse().unwrap();
        for s in [
            "2025-12-06 10:37:33 -0500",
            "2025-12-06T10:37:33-05:00",
            "2025-12-06T15:37:33+00:00",
            "2025-12-06T15:37:33Z",
            " 2025-12-06 10:37:33 -0500 ",
        ] {
            assert_eq!(parse_instant(s), Some(want), "{s}");
        }
        assert_eq!(parse_instant("06/12/2025"), None);
        assert_eq!(parse_instant(""), None);
    }
}

#[cfg(test)]
mod adversarial {
    //! Hostile input: arbitrary bytes, real headers with garbage rows, huge fields. The parsers
    //! must answer with orders or row errors, never panic, and never accept an invalid order.
    use proptest::prelude::*;

    const SHOPIFY: &str = "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Currency,Total,Created at,Lineitem quantity,Lineitem name,Lineitem sku,Id\n";
    const AMAZON: &str = "order-id\tpurchase-date\tquantity-purchased\tquantity-shipped\tsku\tproduct-name\tbuyer-email\n";

    fn check(file: &super::ParsedFile) {
        for p in &file.orders {
            assert!(!p.lines.is_empty());
            for i in &p.order.items {
                assert!(i.quantity > 0 && i.quantity_shipped <= i.quantity);
            }
        }
        for e in &file.errors {
            assert!(!e.reason.is_empty());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2000)) {
            if let Ok(f) = super::shopify::parse(&data) { check(&f) }
            if let Ok(f) = super::amazon::parse(&data) { check(&f) }
        }

        #[test]
        fn garbage_rows_under_real_headers(rows in prop::collection::vec("[ -~\t,\"\n]{0,120}", 0..30)) {
            let body = rows.join("\n");
            check(&super::shopify::parse(format!("{SHOPIFY}{body}").as_bytes()).unwrap());
            check(&super::amazon::parse(format!("{AMAZON}{body}").as_bytes()).unwrap());
        }
    }

    #[test]
    fn a_huge_field_and_invalid_utf8_are_row_errors() {
        let big = "x".repeat(1 << 20);
        let f = super::shopify::parse(
            format!("{SHOPIFY}#1,a@b.io,paid,,,,USD,1.00,2025-12-06 10:37:33 -0500,1,{big},S,1\n")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(f.orders.len(), 1);
        let mut bytes = SHOPIFY.as_bytes().to_vec();
        bytes.extend_from_slice(
            b"#2,a@b.io,paid,,,,USD,1.00,2025-12-06 10:37:33 -0500,1,\xff\xfe,S,2\n",
        );
        let f = super::shopify::parse(&bytes).unwrap();
        assert!(f.orders.is_empty());
        assert_eq!(f.errors[0].line, 2);
        let f = super::amazon::parse(
            b"order-id\tpurchase-date\tquantity\n1\t2025-12-06T10:00:00Z\t99999999999999999999\n",
        )
        .unwrap();
        assert_eq!(f.errors[0].column.as_deref(), Some("quantity"));
    }
}
