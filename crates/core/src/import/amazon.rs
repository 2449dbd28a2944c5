//! Amazon Seller Central's tab-separated order reports: the Unshipped Orders report and the
//! order report of "Manage Orders" (`order-id`, `order-item-id`, `purchase-date`,
//! `payments-date`, `promise-date`, `latest-ship-date`, `buyer-email`, `sku`,
//! `quantity-purchased`, `quantity-shipped`, `ship-address-1`, ...), and the "All Orders" flat
//! file's names for the same things (`amazon-order-id`, `quantity`, `item-price`, `currency`,
//! `order-status`, `last-updated-date`).
//!
//! One row per order item; columns may come in any order and unknown columns are ignored.

use super::{
    FormatError, Header, ParsedFile, ParsedOrder, Row, RowError, group_by_key, read_records,
};
use crate::order::{Address, Customer, LineItem, OrderInput};
use crate::time::rfc3339;
use jiff::Timestamp;

struct Cols {
    order_id: usize,
    purchase_date: usize,
    payments_date: Option<usize>,
    last_updated: Option<usize>,
    reporting_date: Option<usize>,
    promise_date: Option<usize>,
    latest_ship_date: Option<usize>,
    latest_delivery_date: Option<usize>,
    order_status: Option<usize>,
    buyer_email: Option<usize>,
    buyer_name: Option<usize>,
    buyer_phone: Option<usize>,
    sku: Option<usize>,
    product_name: Option<usize>,
    quantity: usize,
    quantity_shipped: Option<usize>,
    quantity_to_ship: Option<usize>,
    currency: Option<usize>,
    item_price: Option<usize>,
    recipient: Option<usize>,
    addr1: Option<usize>,
    addr2: Option<usize>,
    addr3: Option<usize>,
    city: Option<usize>,
    state: Option<usize>,
    postal: Option<usize>,
    country: Option<usize>,
}

impl Cols {
    fn find(h: &Header) -> Result<Self, FormatError> {
        let req = |names: &[&str]| {
            h.find(names).ok_or_else(|| {
                FormatError(format!(
                    "column {:?} is missing: this does not look like an Amazon order report (tab-separated, with order-id, purchase-date, quantity-purchased, ...)",
                    names[0]
                ))
            })
        };
        Ok(Self {
            order_id: req(&["order-id", "amazon-order-id"])?,
            purchase_date: req(&["purchase-date"])?,
            payments_date: h.find(&["payments-date"]),
            last_updated: h.find(&["last-updated-date"]),
            reporting_date: h.find(&["reporting-date"]),
            promise_date: h.find(&["promise-date"]),
            latest_ship_date: h.find(&["latest-ship-date"]),
            latest_delivery_date: h.find(&["latest-delivery-date"]),
            order_status: h.find(&["order-status"]),
            buyer_email: h.find(&["buyer-email"]),
            buyer_name: h.find(&["buyer-name"]),
            buyer_phone: h.find(&["buyer-phone-number"]),
            sku: h.find(&["sku"]),
            product_name: h.find(&["product-name"]),
            quantity: req(&["quantity-purchased", "quantity"])?,
            quantity_shipped: h.find(&["quantity-shipped"]),
            quantity_to_ship: h.find(&["quantity-to-ship"]),
            currency: h.find(&["currency"]),
            item_price: h.find(&["item-price"]),
            recipient: h.find(&["recipient-name"]),
            addr1: h.find(&["ship-address-1"]),
            addr2: h.find(&["ship-address-2"]),
            addr3: h.find(&["ship-address-3"]),
            city: h.find(&["ship-city"]),
            state: h.find(&["ship-state"]),
            postal: h.find(&["ship-postal-code"]),
            country: h.find(&["ship-country"]),
        })
    }
}

/// Parses an Amazon order report.
pub fn parse(bytes: &[u8]) -> Result<ParsedFile, FormatError> {
    let (header, records, mut errors) = read_records(bytes, b'\t')?;
    let c = Cols::find(&header)?;
    let keyed: Vec<(String, (u64, csv::StringRecord))> = records
        .into_iter()
        .filter_map(|(line, r)| match r.get(c.order_id).map(str::trim) {
            Some(id) if !id.is_empty() => Some((id.to_string(), (line, r))),
            _ => {
                errors.push(RowError {
                    line,
                    column: Some(header.name(c.order_id).to_string()),
                    reason: "the order id is empty".into(),
                });
                None
            }
        })
        .collect();
    let mut out = ParsedFile::default();
    for (id, rows) in group_by_key(keyed) {
        match order_from_rows(&header, &c, &id, &rows) {
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
    id: &str,
    rows: &[(u64, csv::StringRecord)],
) -> Result<crate::order::NewOrder, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut items = Vec::new();
    let (mut purchased, mut paid, mut promise, mut latest_ship, mut updated) =
        (None, None, None, None, None);
    let mut status: Option<String> = None;
    let mut all_shipped = true;
    let mut any_shipped = false;
    let first_line = rows[0].0;
    let earliest = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    for (line, rec) in rows {
        let mut r = Row::new(*line, rec, header);
        let p = r.instant(Some(c.purchase_date));
        if p.is_none() && r.get(Some(c.purchase_date)).is_none() {
            r.fail(Some(c.purchase_date), "is empty");
        }
        purchased = earliest(purchased, p);
        paid = earliest(paid, r.instant(c.payments_date));
        promise = earliest(
            promise,
            r.instant(c.promise_date)
                .or(r.instant(c.latest_delivery_date)),
        );
        latest_ship = earliest(latest_ship, r.instant(c.latest_ship_date));
        let u = r.instant(c.last_updated).or(r.instant(c.reporting_date));
        updated = updated.max(u);
        if let Some(s) = r.text(c.order_status) {
            status = Some(s);
        }
        let quantity = r.count(Some(c.quantity));
        if quantity.is_none() && r.get(Some(c.quantity)).is_none() {
            r.fail(Some(c.quantity), "is empty");
        }
        let q = quantity.unwrap_or(0);
        let shipped = match (r.count(c.quantity_shipped), r.count(c.quantity_to_ship)) {
            (Some(s), _) => s,
            (None, Some(to_ship)) => q.saturating_sub(to_ship),
            (None, None) => 0,
        };
        if shipped > q {
            r.fail(
                c.quantity_shipped,
                format!("{shipped} shipped is more than the {q} purchased"),
            );
        }
        let price = r.amount(c.item_price);
        let name = r
            .text(c.product_name)
            .or_else(|| r.text(c.sku))
            .unwrap_or_else(|| "item".to_string());
        if q > 0 {
            all_shipped &= shipped >= q;
            any_shipped |= shipped > 0;
        }
        errors.append(&mut r.errors);
        if q > 0 {
            items.push(LineItem {
                sku: r.text(c.sku),
                name,
                quantity: q,
                quantity_shipped: shipped.min(q),
                price,
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let first = Row::new(first_line, &rows[0].1, header);
    let known = [purchased, paid, updated].into_iter().flatten().max();
    let status = status.map(|s| s.to_ascii_lowercase());
    let cancelled_at = match status.as_deref() {
        Some("canceled" | "cancelled") => known,
        _ => None,
    };
    let shipped_status = matches!(status.as_deref(), Some("shipped"));
    // The reports give no ship time: a fully shipped order counts as shipped at the report's
    // last-updated or reporting date when present, otherwise the latest instant it mentions.
    let (partially_shipped_at, shipped_at) = if cancelled_at.is_some() || items.is_empty() {
        (None, None)
    } else if (all_shipped && any_shipped) || shipped_status {
        (None, updated.or(known))
    } else if any_shipped {
        (updated.or(known), None)
    } else {
        (None, None)
    };
    let address = Address {
        name: first.text(c.recipient),
        company: None,
        line1: first.text(c.addr1),
        line2: first.text(c.addr2),
        line3: first.text(c.addr3),
        city: first.text(c.city),
        region: first.text(c.state),
        postal_code: first.text(c.postal),
        country: first.text(c.country),
        phone: None,
    };
    let input = OrderInput {
        channel: "amazon".into(),
        external_id: id.to_string(),
        number: Some(id.to_string()),
        customer: Customer {
            name: first.text(c.buyer_name),
            email: first.text(c.buyer_email),
            phone: first.text(c.buyer_phone),
        },
        shipping_address: (address != Address::default()).then_some(address),
        items,
        currency: first.text(c.currency),
        placed_at: purchased.map(rfc3339).unwrap_or_default(),
        paid_at: paid.map(rfc3339),
        partially_shipped_at: partially_shipped_at.map(rfc3339),
        shipped_at: shipped_at.map(rfc3339),
        cancelled_at: cancelled_at.map(rfc3339),
        latest_ship_date: latest_ship.map(rfc3339),
        promise_date: promise.map(rfc3339),
        updated_at: updated.map(rfc3339),
        ..OrderInput::default()
    };
    input.validate().map_err(|errs| {
        errs.into_iter()
            .map(|e| RowError {
                line: first_line,
                column: match e.field.as_str() {
                    "customer.email" => c.buyer_email,
                    "currency" => c.currency,
                    _ => None,
                }
                .map(|i| header.name(i).to_string()),
                reason: format!("{}: {}", e.field, e.message),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::OrderState;

    const HEADER: &str = "order-id\torder-item-id\tpurchase-date\tpayments-date\treporting-date\tpromise-date\tdays-past-promise\tbuyer-email\tbuyer-name\tbuyer-phone-number\tsku\tproduct-name\tquantity-purchased\tquantity-shipped\tquantity-to-ship\tship-service-level\trecipient-name\tship-address-1\tship-address-2\tship-address-3\tship-city\tship-state\tship-postal-code\tship-country\tis-business-order\tpurchase-order-number\tprice-designation\tis-prime\tlatest-ship-date";

    fn row(id: &str, item: &str, sku: &str, qty: u32, shipped: u32) -> String {
        format!(
            "{id}\t{item}\t2025-12-06T15:37:33+00:00\t2025-12-06T15:37:33+00:00\t2025-12-07T08:00:00+00:00\t2025-12-12T07:59:59+00:00\t0\tabc123@marketplace.amazon.com\tJohn Smith\t+1 555 0100\t{sku}\tBlue ceramic mug\t{qty}\t{shipped}\t{}\tStandard\tJohn Smith\t12 Oak Ave\t\t\tSedona\tAZ\t86336\tUS\tfalse\t\t\tfalse\t2025-12-09T07:59:59+00:00",
            qty - shipped
        )
    }

    #[test]
    fn items_of_one_order_are_grouped_and_latest_ship_date_is_kept() {
        let text = format!(
            "{HEADER}\n{}\n{}\n{}\n",
            row("114-3941689-8772232", "1", "MUG-BLU", 2, 0),
            row("114-0000000-0000001", "9", "CUP-ESP", 1, 1),
            row("114-3941689-8772232", "2", "CUP-ESP", 1, 0),
        );
        let f = parse(text.as_bytes()).unwrap();
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(f.orders.len(), 2);
        let o = &f.orders[0].order;
        assert_eq!(o.external_id, "114-3941689-8772232");
        assert_eq!(o.items.len(), 2);
        assert_eq!(f.orders[0].lines, vec![2, 4]);
        assert_eq!(
            o.latest_ship_date.unwrap().to_string(),
            "2025-12-09T07:59:59Z"
        );
        assert_eq!(o.promise_date.unwrap().to_string(), "2025-12-12T07:59:59Z");
        assert_eq!(o.state(), OrderState::Paid);
        assert_eq!(f.orders[1].order.state(), OrderState::Shipped);
        assert_eq!(
            o.shipping_address.as_ref().unwrap().city.as_deref(),
            Some("Sedona")
        );
    }

    #[test]
    fn columns_in_any_order_and_unknown_columns_ignored() {
        let text = "quantity-purchased\tmystery-column\tpurchase-date\torder-id\tsku\n3\tx\t2025-12-06T15:37:33+00:00\t111-1\tA-1\n";
        let f = parse(text.as_bytes()).unwrap();
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(f.orders[0].order.items[0].quantity, 3);
    }

    #[test]
    fn bad_cells_name_line_and_column() {
        let bad = row("114-1", "1", "MUG", 2, 0).replace("\t2\t0\t", "\ttwo\t0\t");
        let text = format!("{HEADER}\n{}\n{bad}\n", row("114-2", "1", "MUG", 1, 0));
        let f = parse(text.as_bytes()).unwrap();
        assert_eq!(f.orders.len(), 1);
        assert_eq!(f.errors.len(), 1);
        assert_eq!(f.errors[0].line, 3);
        assert_eq!(f.errors[0].column.as_deref(), Some("quantity-purchased"));
    }

    #[test]
    fn quotes_in_tab_separated_names_are_kept_literally() {
        let r = row("114-3", "1", "MUG", 1, 0).replace("Blue ceramic mug", "12\" \"Deluxe\" mug");
        let f = parse(format!("{HEADER}\n{r}\n").as_bytes()).unwrap();
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(f.orders[0].order.items[0].name, "12\" \"Deluxe\" mug");
    }
}
