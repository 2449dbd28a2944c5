//! herald's domain core: orders and their lifecycle, the business calendar, ship-by deadlines,
//! shipping-performance arithmetic and the parsers for store exports.
//!
//! Nothing in this crate does IO or knows about HTTP or databases; the `store` and `server`
//! crates translate the outside world into calls on these types.

pub mod calendar;
pub mod cases;
pub mod deadline;
pub mod digest;
pub mod geo;
pub mod import;
pub mod notify;
pub mod order;
pub mod problems;
pub mod providers;
mod short;
pub mod status;
pub mod time;
pub mod tracking;
pub mod watch;

pub use calendar::{BusinessCalendar, Holiday, HolidaySet};
pub use deadline::{ShipByPolicy, ShipByState};
pub use order::{Channel, FieldError, NewOrder, Order, OrderEventKind, OrderState};
