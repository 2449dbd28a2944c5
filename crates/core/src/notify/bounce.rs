//! Bounces: what a delivery status notification (RFC 3464, a multipart/report message) says
//! about the messages herald sent. The MIME structure is read by `mail-parser` (the field's
//! parser, used by Stalwart); the delivery-status fields themselves are a few header-like
//! blocks, read here.
//!
//! A hard bounce (action `failed` with a 5.x.x status) means the address does not work and
//! herald stops mailing it; a soft one (4.x.x, `delayed`) is only recorded.

use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde::Serialize;

/// One recipient's fate as a bounce reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientReport {
    /// The address that failed, lower-cased (from Final-Recipient, else Original-Recipient).
    pub address: String,
    /// failed, delayed, delivered, relayed or expanded.
    pub action: String,
    /// The enhanced status code, such as 5.1.1.
    pub status: String,
    /// The remote server's words, such as "smtp; 550 5.1.1 user unknown".
    pub diagnostic: Option<String>,
}

impl RecipientReport {
    /// The address will not work: action failed with a permanent (5.x.x) status.
    pub fn is_hard(&self) -> bool {
        self.action == "failed" && self.status.starts_with('5')
    }
}

/// What a bounce says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bounce {
    pub recipients: Vec<RecipientReport>,
    /// The Message-ID of the message that bounced, from the returned original or its headers.
    pub original_message_id: Option<String>,
}

/// Why a message is not a bounce herald can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BounceError {
    #[error("the message could not be parsed as an e-mail (RFC 5322)")]
    NotEmail,
    #[error(
        "the message is not a delivery status notification: it has no message/delivery-status part (RFC 3464)"
    )]
    NotReport,
    #[error("the delivery-status part names no recipient (Final-Recipient or Original-Recipient)")]
    NoRecipient,
}

/// The largest message read (bounces are small; a returned original rarely adds much).
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

/// Reads a raw RFC 5322 message as a delivery status notification.
pub fn parse(raw: &[u8]) -> Result<Bounce, BounceError> {
    let raw = &raw[..raw.len().min(MAX_BYTES)];
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(BounceError::NotEmail)?;
    let mut status_text: Option<String> = None;
    let mut original_id: Option<String> = None;
    for part in &msg.parts {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let full = format!(
            "{}/{}",
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or_default().to_ascii_lowercase()
        );
        match full.as_str() {
            "message/delivery-status" | "message/global-delivery-status"
                if status_text.is_none() =>
            {
                status_text = Some(match &part.body {
                    PartType::Message(m) => String::from_utf8_lossy(m.raw_message()).into(),
                    _ => String::from_utf8_lossy(part.contents()).into(),
                });
            }
            "message/rfc822" | "message/global" => {
                if let PartType::Message(m) = &part.body
                    && original_id.is_none()
                {
                    original_id = m.message_id().map(str::to_string);
                }
            }
            "text/rfc822-headers" | "text/global-headers" if original_id.is_none() => {
                original_id = header_value(&String::from_utf8_lossy(part.contents()), "message-id");
            }
            _ => {}
        }
    }
    let text = status_text.ok_or(BounceError::NotReport)?;
    let recipients = recipient_blocks(&text);
    if recipients.is_empty() {
        return Err(BounceError::NoRecipient);
    }
    Ok(Bounce {
        recipients,
        original_message_id: original_id.map(|id| bare_id(&id)),
    })
}

/// "<a@b>" and "a@b" both as "a@b".
fn bare_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

/// The blocks of a delivery-status body (separated by blank lines), each as unfolded fields.
fn blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let text = text.replace("\r\n", "\n");
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in block.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = fields.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        if !fields.is_empty() {
            out.push(fields);
        }
    }
    out
}

fn header_value(text: &str, name: &str) -> Option<String> {
    blocks(text)
        .into_iter()
        .next()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// "rfc822; Maya@Shopper.test" as "maya@shopper.test".
fn address_of(v: &str) -> String {
    let addr = v.split_once(';').map_or(v, |(_, a)| a);
    addr.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

fn recipient_blocks(text: &str) -> Vec<RecipientReport> {
    let mut out = Vec::new();
    for fields in blocks(text) {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let Some(address) = get("final-recipient")
            .or_else(|| get("original-recipient"))
            .map(|v| address_of(&v))
            .filter(|a| a.contains('@'))
        else {
            continue;
        };
        out.push(RecipientReport {
            address,
            action: get("action")
                .map(|a| a.to_ascii_lowercase())
                .unwrap_or_default(),
            status: get("status")
                .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
                .unwrap_or_default(),
            diagnostic: get("diagnostic-code"),
        });
    }
    out
}

/// The outbox id in a Message-ID herald made (`herald.outbox.ID@domain`).
pub fn outbox_id(message_id: &str) -> Option<i64> {
    bare_id(message_id)
        .strip_prefix("herald.outbox.")?
        .split('@')
        .next()?
        .parse()
        .ok()
}

/// Splits an mbox file into its messages (lines starting "From " begin one; ">From " lines
/// are un-escaped, as mboxrd writes them).
pub fn split_mbox(data: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.split_inclusive('\n') {
        if line.starts_with("From ") {
            if let Some(m) = cur.take() {
                out.push(m.into_bytes());
            }
            cur = Some(String::new());
            continue;
        }
        if let Some(m) = cur.as_mut() {
            let unescaped = line
                .strip_prefix('>')
                .filter(|l| l.trim_start_matches('>').starts_with("From "))
                .unwrap_or(line);
            m.push_str(unescaped);
        }
    }
    if let Some(m) = cur {
        out.push(m.into_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bounce in the shape Postfix sends (RFC 3464 multipart/report).
    pub(crate) fn postfix_bounce(
        to: &str,
        status: &str,
        action: &str,
        original_id: &str,
    ) -> String {
        format!(
            "From: MAILER-DAEMON@mail.sandstonepottery.shop (Mail Delivery System)\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
To: orders@sandstonepottery.shop\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status;\r\n\
\tboundary=\"B0UND.1\"\r\n\
\r\n\
This is a MIME-encapsulated message.\r\n\
\r\n\
--B0UND.1\r\n\
Content-Description: Notification\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
I'm sorry to have to inform you that your message could not\r\n\
be delivered to one or more recipients.\r\n\
\r\n\
--B0UND.1\r\n\
Content-Description: Delivery report\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mail.sandstonepottery.shop\r\n\
Arrival-Date: Mon, 23 Nov 2026 10:00:00 -0700 (MST)\r\n\
\r\n\
Final-Recipient: rfc822; {to}\r\n\
Original-Recipient: rfc822;{to}\r\n\
Action: {action}\r\n\
Status: {status}\r\n\
Remote-MTA: dns; mx.shopper.example\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <{to}>: Recipient address\r\n\
\trejected: User unknown\r\n\
\r\n\
--B0UND.1\r\n\
Content-Description: Undelivered Message Headers\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n\
From: \"Sandstone Pottery\" <orders@sandstonepottery.shop>\r\n\
To: {to}\r\n\
Subject: Your order #1042 is on its way\r\n\
Message-ID: {original_id}\r\n\
\r\n\
--B0UND.1--\r\n"
        )
    }

    #[test]
    fn a_postfix_hard_bounce_names_the_address_status_and_original() {
        let raw = postfix_bounce(
            "Maya@Shopper.test",
            "5.1.1",
            "failed",
            "<herald.outbox.42@sandstonepottery.shop>",
        );
        let b = parse(raw.as_bytes()).unwrap();
        assert_eq!(b.recipients.len(), 1);
        let r = &b.recipients[0];
        assert_eq!(r.address, "maya@shopper.test");
        assert_eq!((r.action.as_str(), r.status.as_str()), ("failed", "5.1.1"));
        assert!(r.is_hard());
        assert!(r.diagnostic.as_deref().unwrap().contains("User unknown"));
        assert_eq!(
            b.original_message_id.as_deref(),
            Some("herald.outbox.42@sandstonepottery.shop")
        );
        assert_eq!(
            outbox_id(b.original_message_id.as_deref().unwrap()),
            Some(42)
        );
    }

    #[test]
    fn delays_are_soft_and_other_mail_is_not_a_report() {
        let raw = postfix_bounce("a@b.shop", "4.4.7", "delayed", "<x@y>");
        assert!(!parse(raw.as_bytes()).unwrap().recipients[0].is_hard());
        let plain = b"From: a@b.shop\r\nSubject: hi\r\n\r\nhello\r\n";
        assert_eq!(parse(plain), Err(BounceError::NotReport));
        assert_eq!(outbox_id("<somebody@else>"), None);
    }

    #[test]
    fn mbox_files_split_into_messages() {
        let one = postfix_bounce("a@b.shop", "5.1.1", "failed", "<herald.outbox.1@s.shop>");
        let two = postfix_bounce("c@d.shop", "5.1.1", "failed", "<herald.outbox.2@s.shop>");
        let mbox = format!(
            "From MAILER-DAEMON Mon Nov 23 10:00:00 2026\n{one}\nFrom MAILER-DAEMON Mon Nov 23 10:01:00 2026\n{two}\n"
        );
        let msgs = split_mbox(mbox.as_bytes());
        assert_eq!(msgs.len(), 2);
        let ids: Vec<_> = msgs
            .iter()
            .map(|m| parse(m).unwrap().recipients[0].address.clone())
            .collect();
        assert_eq!(ids, ["a@b.shop", "c@d.shop"]);
    }
}
