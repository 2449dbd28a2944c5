//! Channels: the ways a rendered message reaches its reader. E-mail (over SMTP) and the
//! marketplace queue (for the seller to send through Amazon's or Walmart's own buyer
//! messaging) today; an SMS or marketplace-API channel is one more implementation of
//! [`Channel`], chosen by [`herald_core::notify::NotifyPolicy::route`].

use herald_core::notify::ChannelKind;
use herald_core::notify::templates::Rendered;

/// One message, ready to leave.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The outbox id (its Message-ID is derived from it).
    pub outbox_id: i64,
    /// The reader's address on this channel, when known.
    pub to: Option<&'a str>,
    pub rendered: &'a Rendered,
    /// The one-click unsubscribe link of non-transactional mail (RFC 8058).
    pub unsubscribe: Option<&'a str>,
    /// The sales channel of the order, whose store may have its own sender identity.
    pub store: Option<&'a str>,
}

/// What a channel did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Handed over for delivery, with the Message-ID it carries.
    Sent { message_id: String },
    /// Kept for the seller to send by hand (listed and exportable).
    Queued,
}

/// Why a delivery failed, and whether trying again later can help.
#[derive(Debug, Clone)]
pub struct SendError {
    pub transient: bool,
    pub text: String,
}

/// A way to reach a reader.
#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    fn kind(&self) -> ChannelKind;
    /// Whether a message without a reader's address can go through this channel.
    fn needs_address(&self) -> bool;
    async fn deliver(&self, out: Outgoing<'_>) -> Result<Receipt, SendError>;
}

/// The marketplace queue: the seller copies each message into the marketplace's buyer
/// messaging (`GET /api/v1/messages?status=marketplace`, or the CSV export).
#[derive(Debug, Default)]
pub struct MarketplaceQueue;

#[async_trait::async_trait]
impl Channel for MarketplaceQueue {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Marketplace
    }

    fn needs_address(&self) -> bool {
        false
    }

    async fn deliver(&self, _out: Outgoing<'_>) -> Result<Receipt, SendError> {
        Ok(Receipt::Queued)
    }
}
