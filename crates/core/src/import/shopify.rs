//! Shopify's orders export (Admin > Orders > Export, "CSV for Excel, Numbers, or other
//! spreadsheet programs").
//!
//! One row per line item. The first row of an order carries the order-level fields; the rows of
//! further items repeat `Name` and leave order-level fields blank. Dates look like
//! `2025-12-06 10:37:33 -0500`. Columns are found by header name, so their order does not matter
//! and columns herald does not use are ignored.

use super::{
    FormatError, Header, ParsedFile, ParsedOrder, Row, RowError, group_by_key, read_records,
};
use crate::order::{Address, Customer, LineItem, OrderInput};
use crate::time::rfc3339;

struct Cols {
    name: usize,
    id: Option<usize>,
    email: Option<usize>,
    financial_status: Option<usize>,
    paid_at: Option<usize>,
    fulfillment_status: Option<usize>,
    fulfilled_at: Option<usize>,
    currency: Option<usize>,
    subtotal: Option<usize>,
    shipping: Option<usize>,
    taxes: Option<usize>,
    total: Option<usize>,
    created_at: usize,
    cancelled_at: Option<usize>,
    li_quantity: usize,
    li_name: usize,
    li_price: Option<usize>,
    li_sku: Option<usize>,
    li_fulfillment: Option<usize>,
    billing_name: Option<usize>,
    phone: Option<usize>,
    billing_phone: Option<usize>,
    ship_name: Option<usize>,
    ship_company: Option<usize>,
    ship_address1: Option<usize>,
    ship_address2: Option<usize>,
    ship_city: Option<usize>,
    ship_zip: Option<usize>,
    ship_province: Option<usize>,
    ship_country: Option<usize>,
    ship_phone: Option<usize>,
}

impl Cols {
    fn find(h: &Header) -> Result<Self, FormatError> {
        let req = |n: &str| {
            h.find(&[n]).ok_or_else(|| {
                FormatError(format!(
                    "column {n:?} is missing: this does not look like a Shopify orders export (its header starts Name,Email,Financial Status,...)"
                ))
            })
        };
        Ok(Self {
            name: req("Name")?,
            id: h.find(&["Id"]),
            email: h.find(&["Email"]),
            financial_status: h.find(&["Financial Status"]),
            paid_at: h.find(&["Paid at"]),
            fulfillment_status: h.find(&["Fulfillment Status"]),
            fulfilled_at: h.find(&["Fulfilled at"]),
            currency: h.find(&["Currency"]),
            subtotal: h.find(&["Subtotal"]),
            shipping: h.find(&["Shipping"]),
            taxes: h.find(&["Taxes"]),
            total: h.find(&["Total"]),
            created_at: req("Created at")?,
            cancelled_at: h.find(&["Cancelled at"]),
            li_quantity: req("Lineitem quantity")?,
            li_name: req("Lineitem name")?,
            li_price: h.find(&["Lineitem price"]),
            li_sku: h.find(&["Lineitem sku"]),
            li_fulfillment: h.find(&["Lineitem fulfillment status"]),
            billing_name: h.find(&["Billing Name"]),
            phone: h.find(&["Phone"]),
            billing_phone: h.find(&["Billing Phone"]),
            ship_name: h.find(&["Shipping Name"]),
            ship_company: h.find(&["Shipping Company"]),
            ship_address1: h.find(&["Shipping Address1", "Shipping Street"]),
            ship_address2: h.find(&["Shipping Address2"]),
            ship_city: h.find(&["Shipping City"]),
            ship_zip: h.find(&["Shipping Zip"]),
            ship_province: h.find(&["Shipping Province"]),
            ship_country: h.find(&["Shipping Country"]),
            ship_phone: h.find(&["Shipping Phone"]),
        })
    }
}

/// Spreadsheet exports prefix postal codes with `'` to keep leading zeros; drop it.
fn postal(s: Option<String>) -> Option<String> {
    s.map(|z| z.trim_start_matches('\'').to_string())
}

/// Parses a Shopify orders export.
pub fn parse(bytes: &[u8]) -> Result<ParsedFile, FormatError> {
    let (header, records, mut errors) = read_records(bytes, b',')?;
    let c = Cols::find(&header)?;
    let keyed: Vec<(String, (u64, csv::StringRecord))> = records
        .into_iter()
        .filter_map(|(line, r)| match r.get(c.name).map(str::trim) {
            Some(n) if !n.is_empty() => Some((n.to_string(), (line, r))),
            _ => {
                errors.push(RowError {
                    line,
                    column: Some(header.name(c.name).to_string()),
                    reason: "the order name (e.g. #1001) is empty".into(),
                });
                None
            }
        })
        .collect();
    let mut out = ParsedFile::default();
    for (name, rows) in group_by_key(keyed) {
        match order_from_rows(&header, &c, &name, &rows) {
            Ok(order) => out.orders.push(ParsedOrder {
                order,
                lines: rows.iter().map(|(l, _)| *l).collect(),
            }),
            Err(mut e) => out.errors.append(&mut e),
        }
    }
    out.errors.append(&mut errors);
    out.errors.sort_by_key(|e| e.line);
    Ok(out)
}

fn order_from_rows(
    header: &Header,
    c: &Cols,
    name: &str,
    rows: &[(u64, csv::StringRecord)],
) -> Result<crate::order::NewOrder, Vec<RowError>> {
    let (first_line, first) = &rows[0];
    let mut row = Row::new(*first_line, first, header);
    let created = row.instant(Some(c.created_at));
    if created.is_none() && row.get(Some(c.created_at)).is_none() {
        row.fail(Some(c.created_at), "is empty on the first row of the order");
    }
    let paid = row.instant(c.paid_at);
    let fulfilled = row.instant(c.fulfilled_at);
    let cancelled = row.instant(c.cancelled_at);
    let latest_known = [created, paid, fulfilled, cancelled]
        .into_iter()
        .flatten()
        .max();
    let fulfillment = row.get(c.fulfillment_status).unwrap_or("unfulfilled");
    let (partially_shipped_at, shipped_at) = match fulfillment.to_ascii_lowercase().as_str() {
        "fulfilled" => (None, fulfilled.or(latest_known)),
        "partial" | "partially_fulfilled" => (fulfilled.or(latest_known), None),
        "unfulfilled" | "pending" | "restocked" | "scheduled" | "on_hold" => (None, None),
        other => {
            row.fail(
                c.fulfillment_status,
                format!("{other:?} is not a Shopify fulfillment status (fulfilled, partial, unfulfilled)"),
            );
            (None, None)
        }
    };
    // The export has no refund time: a refunded order counts as refunded from the latest instant
    // the row mentions.
    let refunded_at = match row.get(c.financial_status).map(str::to_ascii_lowercase) {
        Some(s) if s == "refunded" => latest_known,
        _ => None,
    };
    let subtotal = row.amount(c.subtotal);
    let shipping = row.amount(c.shipping);
    let tax = row.amount(c.taxes);
    let total = row.amount(c.total);
    let mut errors = std::mem::take(&mut row.errors);
    let mut items = Vec::new();
    let mut item_lines = Vec::new();
    for (line, rec) in rows {
        let mut r = Row::new(*line, rec, header);
        let quantity = r.count(Some(c.li_quantity));
        if quantity.is_none() && r.get(Some(c.li_quantity)).is_none() {
            r.fail(Some(c.li_quantity), "is empty");
        }
        let item_name = r.text(Some(c.li_name));
        if item_name.is_none() {
            r.fail(Some(c.li_name), "is empty");
        }
        let price = r.amount(c.li_price);
        let shipped_all = r
            .get(c.li_fulfillment)
            .is_some_and(|s| s.eq_ignore_ascii_case("fulfilled"));
        errors.append(&mut r.errors);
        if let (Some(q), Some(n)) = (quantity, item_name) {
            items.push(LineItem {
                sku: r.text(c.li_sku),
                name: n,
                quantity: q,
                quantity_shipped: if shipped_all || shipped_at.is_some() {
                    q
                } else {
                    0
                },
                price,
            });
            item_lines.push(*line);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let row = Row::new(*first_line, first, header);
    let address = Address {
        name: row.text(c.ship_name),
        company: row.text(c.ship_company),
        line1: row.text(c.ship_address1),
        line2: row.text(c.ship_address2),
        line3: None,
        city: row.text(c.ship_city),
        region: row.text(c.ship_province),
        postal_code: postal(row.text(c.ship_zip)),
        country: row.text(c.ship_country),
        phone: row.text(c.ship_phone),
    };
    let input = OrderInput {
        channel: "shopify".into(),
        external_id: row.text(c.id).unwrap_or_else(|| name.to_string()),
        number: Some(name.to_string()),
        customer: Customer {
            name: row.text(c.billing_name).or_else(|| row.text(c.ship_name)),
            email: row.text(c.email),
            phone: row
                .text(c.phone)
                .or_else(|| row.text(c.billing_phone))
                .or_else(|| row.text(c.ship_phone)),
        },
        shipping_address: (address != Address::default()).then_some(address),
        items,
        currency: row.text(c.currency),
        subtotal,
        shipping,
        tax,
        total,
        placed_at: created.map(rfc3339).unwrap_or_default(),
        paid_at: paid.map(rfc3339),
        partially_shipped_at: partially_shipped_at.map(rfc3339),
        shipped_at: shipped_at.map(rfc3339),
        cancelled_at: cancelled.map(rfc3339),
        refunded_at: refunded_at.map(rfc3339),
        ..OrderInput::default()
    };
    input.validate().map_err(|errs| {
        errs.into_iter()
            .map(|e| {
                let (line, col) = field_column(c, &e.field, *first_line, &item_lines);
                RowError {
                    line,
                    column: col.map(|i| header.name(i).to_string()),
                    reason: e.message,
                }
            })
            .collect()
    })
}

/// Where in the file a field of the order came from.
fn field_column(c: &Cols, field: &str, first: u64, item_lines: &[u64]) -> (u64, Option<usize>) {
    if let Some(rest) = field.strip_prefix("items[") {
        let (idx, sub) = rest.split_once(']').unwrap_or((rest, ""));
        let line = idx
            .parse::<usize>()
            .ok()
            .and_then(|i| item_lines.get(i).copied())
            .unwrap_or(first);
        let col = match sub {
            ".quantity" | ".quantity_shipped" => Some(c.li_quantity),
            ".price" => c.li_price,
            _ => Some(c.li_name),
        };
        return (line, col);
    }
    let col = match field {
        "customer.email" => c.email,
        "currency" => c.currency,
        "external_id" => c.id.or(Some(c.name)),
        "placed_at" => Some(c.created_at),
        _ => None,
    };
    (first, col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::OrderState;

    const HEADER: &str = "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,Billing Name,Billing Street,Billing Address1,Billing Address2,Billing Company,Billing City,Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,Shipping Street,Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,Cancelled at,Payment Method,Payment Reference,Refunded Amount,Vendor,Outstanding Balance,Employee,Location,Device ID,Id,Tags,Risk Level,Source,Lineitem discount,Tax 1 Name,Tax 1 Value,Tax 2 Name,Tax 2 Value,Tax 3 Name,Tax 3 Value,Tax 4 Name,Tax 4 Value,Tax 5 Name,Tax 5 Value,Phone,Receipt Number,Duties,Billing Province Name,Shipping Province Name,Payment ID,Payment Terms Name,Next Payment Due At,Payment References";

    fn file(rows: &[&str]) -> Vec<u8> {
        let mut s = String::from(HEADER);
        for r in rows {
            s.push('\n');
            s.push_str(r);
        }
        s.into_bytes()
    }

    const ORDER_1001: &str = "#1001,jane@shopper.test,paid,2025-12-06 10:38:01 -0500,unfulfilled,,no,USD,43.00,5.00,3.44,51.44,,0.00,Standard,2025-12-06 10:37:33 -0500,2,Ceramic Mug - Blue,12.50,,MUG-BLU,true,true,pending,Jane Doe,1 Main St,1 Main St,,,Flagstaff,'86001,AZ,US,+1 928 555 0100,Jane Doe,1 Main St,1 Main St,Apt 2,,Flagstaff,'86001,AZ,US,+1 928 555 0100,,,,Shopify Payments,c1.1,0.00,Herald Pottery,0.00,,,,5123456789012,,Low,web,0.00,AZ State Tax 5.6%,2.41,,,,,,,,,,,,Arizona,Arizona,,,,";
    const ORDER_1001_ROW2: &str = "#1001,,,,,,,,,,,,,,,2025-12-06 10:37:33 -0500,1,Espresso Cup,18.00,,CUP-ESP,true,true,pending,,,,,,,,,,,,,,,,,,,,,,,,,,,Herald Pottery,,,,,,,,,0.00,,,,,,,,,,,,,,,,,,,";

    #[test]
    fn multi_item_order_continues_on_following_rows() {
        let f = parse(&file(&[ORDER_1001, ORDER_1001_ROW2])).unwrap();
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(f.orders.len(), 1);
        let o = &f.orders[0].order;
        assert_eq!(o.number, "#1001");
        assert_eq!(o.external_id, "5123456789012");
        assert_eq!(o.items.len(), 2);
        assert_eq!(o.items[1].sku.as_deref(), Some("CUP-ESP"));
        assert_eq!(o.total.as_deref(), Some("51.44"));
        assert_eq!(o.placed_at.to_string(), "2025-12-06T15:37:33Z");
        assert_eq!(o.state(), OrderState::Paid);
        let a = o.shipping_address.as_ref().unwrap();
        assert_eq!(a.postal_code.as_deref(), Some("86001"));
        assert_eq!(a.line2.as_deref(), Some("Apt 2"));
        assert_eq!(f.orders[0].lines, vec![2, 3]);
    }

    #[test]
    fn fulfilled_and_cancelled_orders() {
        let shipped = ORDER_1001
            .replace(",unfulfilled,,", ",fulfilled,2025-12-08 09:00:00 -0500,")
            .replace("#1001", "#1002")
            .replace("5123456789012", "5123456789013");
        let cancelled = ORDER_1001
            .replace("#1001", "#1003")
            .replace("5123456789012", "5123456789014")
            .replace(
                ",,,,Shopify Payments",
                ",,,2025-12-07 08:00:00 -0500,Shopify Payments",
            );
        let f = parse(&file(&[&shipped, &cancelled])).unwrap();
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(f.orders[0].order.state(), OrderState::Shipped);
        assert_eq!(f.orders[0].order.items[0].quantity_shipped, 2);
        assert_eq!(f.orders[1].order.state(), OrderState::Cancelled);
    }

    #[test]
    fn a_bad_row_names_line_and_column_and_drops_only_its_order() {
        let bad_item = ORDER_1001_ROW2.replace(",1,Espresso Cup,", ",one,Espresso Cup,");
        let other = ORDER_1001
            .replace("#1001", "#1004")
            .replace("5123456789012", "5123456789015");
        let f = parse(&file(&[ORDER_1001, &bad_item, &other])).unwrap();
        assert_eq!(f.orders.len(), 1);
        assert_eq!(f.orders[0].order.number, "#1004");
        assert_eq!(
            f.errors,
            vec![RowError {
                line: 3,
                column: Some("Lineitem quantity".into()),
                reason: "\"one\" is not a whole number".into()
            }]
        );
    }

    #[test]
    fn bad_dates_and_emails_are_reported() {
        let bad = ORDER_1001
            .replace("2025-12-06 10:37:33 -0500", "yesterday")
            .replace("jane@shopper.test", "jane at shopper");
        let f = parse(&file(&[&bad])).unwrap();
        let cols: Vec<_> = f.errors.iter().map(|e| e.column.clone().unwrap()).collect();
        assert_eq!(cols, ["Created at"]);
        let bad = ORDER_1001.replace("jane@shopper.test", "jane at shopper");
        let f = parse(&file(&[&bad])).unwrap();
        assert_eq!(f.errors[0].column.as_deref(), Some("Email"));
        assert_eq!(f.errors[0].line, 2);
    }

    #[test]
    fn a_file_that_is_not_a_shopify_export_is_refused_whole() {
        let err = parse(b"order-id\tsku\n1\t2\n").unwrap_err();
        assert!(err.0.contains("\"Name\" is missing"), "{err}");
        assert!(parse(b"").is_err());
    }
}
