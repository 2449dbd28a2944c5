//! Customer e-mail over SMTP (lettre, pooled connections; `smtp://` with optional STARTTLS
//! via `?tls=required`, `smtps://` for TLS from the first byte, credentials in the URL).
//!
//! `mail.maildir` delivers into a Maildir folder instead (the demo, a staging herald, a test
//! rig): each message is a file in `new/`, written whole through `tmp/` as Maildir requires,
//! readable by any mail client (mutt -f, Thunderbird, Evolution).
//!
//! A mailer that cannot be used (no server, From or Reply-To missing or a placeholder domain)
//! still exists and says why, so messages stay in the outbox instead of going out wrong.

use super::channel::{Channel, Outgoing, Receipt, SendError};
use herald_core::notify::templates::Rendered;
use herald_core::notify::{ChannelKind, sender_address_problem};
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// One store's own sender identity (`[mail.stores.CHANNEL]`): orders from that sales
/// channel are mailed as that store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreSender {
    /// The store's name as its customers know it (defaults to `store.name`).
    pub name: Option<String>,
    pub from: Option<String>,
    pub reply_to: Option<String>,
}

/// The `[mail]` settings.
#[derive(Clone, Default)]
pub struct MailSettings {
    /// `smtp://host:port`, `smtp://user:pass@host:587?tls=required` or `smtps://...:465`.
    pub smtp_url: Option<String>,
    pub from: Option<String>,
    pub reply_to: Option<String>,
    /// A message that keeps failing is moved to the dead letters after this long.
    pub give_up_after: Duration,
    /// SMTP connections kept open per node.
    pub pool_size: u32,
    /// Deliver into this Maildir folder instead of over SMTP (`mail.maildir`).
    pub maildir: Option<std::path::PathBuf>,
    /// Per sales channel, when the seller runs several stores under their own names.
    pub stores: std::collections::BTreeMap<String, StoreSender>,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The SMTP password never reaches a log.
        f.debug_struct("MailSettings")
            .field(
                "smtp_url",
                &self.smtp_url.as_deref().map(herald_store::redact_url),
            )
            .field("maildir", &self.maildir)
            .field("from", &self.from)
            .field("reply_to", &self.reply_to)
            .field("give_up_after", &self.give_up_after)
            .field("stores", &self.stores)
            .finish()
    }
}

impl MailSettings {
    /// Every reason customer mail cannot go out with these settings.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.smtp_url.as_deref().map(str::trim) {
            None | Some("") if self.maildir.is_some() => {}
            None | Some("") => out.push(
                "mail.smtp_url is not set: set it to your mail server, for example smtp://127.0.0.1:2525 or smtps://user:password@smtp.yourhost.com:465".to_string(),
            ),
            Some(url) => {
                if let Err(e) = AsyncSmtpTransport::<Tokio1Executor>::from_url(url) {
                    out.push(format!(
                        "mail.smtp_url = {:?} cannot be used: {e} (use smtp://HOST:PORT, add ?tls=required for STARTTLS, or smtps://USER:PASSWORD@HOST:465)",
                        herald_store::redact_url(url)
                    ));
                }
            }
        }
        out.extend(sender_address_problem("mail.from", self.from.as_deref()));
        out.extend(sender_address_problem(
            "mail.reply_to",
            self.reply_to.as_deref(),
        ));
        let mut senders = vec![
            ("mail.from".to_string(), self.from.clone()),
            ("mail.reply_to".to_string(), self.reply_to.clone()),
        ];
        for (channel, store) in &self.stores {
            for (part, v) in [("from", &store.from), ("reply_to", &store.reply_to)] {
                let key = format!("mail.stores.{channel}.{part}");
                out.extend(sender_address_problem(&key, v.as_deref()));
                senders.push((key, v.clone()));
            }
        }
        for (key, v) in senders {
            if let Some(v) = v
                && sender_address_problem(&key, Some(&v)).is_none()
                && v.parse::<Mailbox>().is_err()
            {
                out.push(format!(
                    "{key} = {v:?} is not an address lettre can send from (write it as \"Shop Name <orders@yourshop.com>\" or orders@yourshop.com)"
                ));
            }
        }
        out
    }

    /// Whether anything at all is set under `[mail]`.
    pub fn is_configured(&self) -> bool {
        self.smtp_url.is_some()
            || self.maildir.is_some()
            || self.from.is_some()
            || self.reply_to.is_some()
    }
}

/// The SMTP side of the sender: a pooled transport and the seller's identity.
pub struct Mailer {
    ready: Result<Ready, String>,
}

struct Ready {
    transport: Transport,
    default: Identity,
    /// Per sales channel.
    stores: std::collections::BTreeMap<String, Identity>,
}

/// Where finished messages go.
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Maildir(std::path::PathBuf),
}

/// Who a message is from.
struct Identity {
    from: Mailbox,
    reply_to: Mailbox,
    domain: String,
}

impl Identity {
    /// From addresses checked by `MailSettings::problems`.
    fn new(from: Option<&str>, reply_to: Option<&str>) -> Self {
        let from: Mailbox = from
            .unwrap_or_default()
            .parse()
            .expect("checked by problems()");
        let reply_to: Mailbox = reply_to
            .unwrap_or_default()
            .parse()
            .expect("checked by problems()");
        Self {
            domain: from.email.domain().to_string(),
            from,
            reply_to,
        }
    }
}

impl Mailer {
    pub fn new(settings: &MailSettings) -> Self {
        let problems = settings.problems();
        if !problems.is_empty() {
            return Self {
                ready: Err(format!(
                    "customer e-mail is held until the mail settings are fixed: {}",
                    problems.join("; ")
                )),
            };
        }
        let transport = match &settings.maildir {
            Some(dir) => Transport::Maildir(dir.clone()),
            None => {
                let url = settings.smtp_url.as_deref().unwrap_or_default().trim();
                Transport::Smtp(
                    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                        .expect("checked by problems()")
                        .timeout(Some(Duration::from_secs(30)))
                        .pool_config(PoolConfig::new().max_size(settings.pool_size.max(1)))
                        .build(),
                )
            }
        };
        Self {
            ready: Ok(Ready {
                transport,
                default: Identity::new(settings.from.as_deref(), settings.reply_to.as_deref()),
                stores: settings
                    .stores
                    .iter()
                    .map(|(ch, s)| {
                        (
                            ch.clone(),
                            Identity::new(s.from.as_deref(), s.reply_to.as_deref()),
                        )
                    })
                    .collect(),
            }),
        }
    }

    /// Why mail cannot be sent now, if it cannot.
    pub fn held(&self) -> Option<&str> {
        self.ready.as_ref().err().map(String::as_str)
    }

    /// The stable Message-ID of outbox message `id`: the same on every retry, so a receiving
    /// server (and the seller) can recognise a repeat.
    pub fn message_id(&self, id: i64, store: Option<&str>) -> String {
        let domain = self
            .ready
            .as_ref()
            .map_or("herald.invalid", |r| r.identity(store).domain.as_str());
        format!("<herald.outbox.{id}@{domain}>")
    }

    /// Sends one message to `to`, from the identity of `store` (a sales channel with its own
    /// `[mail.stores.CHANNEL]`) or the default one; non-transactional mail passes its
    /// one-click unsubscribe link, which goes out as List-Unsubscribe with
    /// List-Unsubscribe-Post (RFC 8058).
    pub async fn send(
        &self,
        id: i64,
        to: &str,
        rendered: &Rendered,
        unsubscribe: Option<&str>,
        store: Option<&str>,
    ) -> Result<String, SendError> {
        let ready = self.ready.as_ref().map_err(|why| SendError {
            transient: true,
            text: why.clone(),
        })?;
        let to: Mailbox = to.parse().map_err(|e| SendError {
            transient: false,
            text: format!("the customer's address {to:?} is not a valid e-mail address: {e}"),
        })?;
        let message_id = self.message_id(id, store);
        let who = ready.identity(store);
        let mut builder = Message::builder()
            .from(who.from.clone())
            .reply_to(who.reply_to.clone())
            .to(to)
            .subject(rendered.subject.clone())
            .message_id(Some(message_id.clone()));
        if let Some(url) = unsubscribe {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
        }
        let email = builder
            .multipart(MultiPart::alternative_plain_html(
                rendered.text.clone(),
                rendered.html.clone(),
            ))
            .map_err(|e| SendError {
                transient: false,
                text: format!("the message could not be built: {e}"),
            })?;
        match &ready.transport {
            Transport::Smtp(smtp) => match smtp.send(email).await {
                Ok(_) => Ok(message_id),
                Err(e) => Err(SendError {
                    transient: !e.is_permanent(),
                    text: describe(&e),
                }),
            },
            Transport::Maildir(dir) => {
                let (dir, bytes) = (dir.clone(), email.formatted());
                tokio::task::spawn_blocking(move || into_maildir(&dir, id, &bytes))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r)
                    .map_err(|text| SendError {
                        transient: true,
                        text,
                    })?;
                Ok(message_id)
            }
        }
    }
}

/// Writes one message into a Maildir folder (creating `tmp/`, `new/` and `cur/` if needed):
/// whole into `tmp/`, synced, then renamed into `new/`, so a reader never sees half a message.
fn into_maildir(dir: &std::path::Path, id: i64, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let fail = |what: &str, e: std::io::Error| {
        format!(
            "cannot {what} in the Maildir folder {} (mail.maildir): {e}",
            dir.display()
        )
    };
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| fail("create folders", e))?;
    }
    // Unique per delivery: the time, the process and the outbox message.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let name = format!(
        "{}.M{}P{}Q{id}.herald",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id()
    );
    let tmp = dir.join("tmp").join(&name);
    let mut f = std::fs::File::create(&tmp).map_err(|e| fail("write a message", e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| fail("write a message", e))?;
    std::fs::rename(&tmp, dir.join("new").join(&name)).map_err(|e| fail("deliver a message", e))
}

impl Ready {
    fn identity(&self, store: Option<&str>) -> &Identity {
        store
            .and_then(|s| self.stores.get(s))
            .unwrap_or(&self.default)
    }
}

#[async_trait::async_trait]
impl Channel for Mailer {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    fn needs_address(&self) -> bool {
        true
    }

    async fn deliver(&self, out: Outgoing<'_>) -> Result<Receipt, SendError> {
        let to = out.to.ok_or_else(|| SendError {
            transient: false,
            text: "no e-mail address".into(),
        })?;
        let message_id = self
            .send(out.outbox_id, to, out.rendered, out.unsubscribe, out.store)
            .await?;
        Ok(Receipt::Sent { message_id })
    }
}

/// `List-Unsubscribe: <https://...>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): a mail client may
/// unsubscribe with one POST, without opening a page.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// The SMTP failure in words, never with credentials.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let kind = if e.is_permanent() {
        "the mail server refused it"
    } else if e.is_transient() {
        "the mail server asked to try later"
    } else if e.is_timeout() {
        "the mail server did not answer in time"
    } else {
        "could not talk to the mail server"
    };
    format!("{kind}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, from: &str, reply: &str) -> MailSettings {
        MailSettings {
            smtp_url: Some(url.into()),
            from: Some(from.into()),
            reply_to: Some(reply.into()),
            give_up_after: Duration::from_secs(86_400),
            pool_size: 4,
            maildir: None,
            stores: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_maildir_mailer_files_whole_messages_under_new() {
        let dir = tempfile::tempdir().unwrap();
        let box_dir = dir.path().join("outbox");
        let mut s = settings(
            "",
            "Canyon Clay Co. <orders@canyonclay.shop>",
            "help@canyonclay.shop",
        );
        s.smtp_url = None;
        s.maildir = Some(box_dir.clone());
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        let m = Mailer::new(&s);
        assert!(m.held().is_none());
        let rendered = Rendered {
            subject: "Your parcel has stopped moving".into(),
            text: "We asked USPS to look for it.".into(),
            html: "<p>We asked USPS to look for it.</p>".into(),
        };
        let id = m
            .send(41, "ava.begay@mail.herald-demo.net", &rendered, None, None)
            .await
            .unwrap();
        assert_eq!(id, "<herald.outbox.41@canyonclay.shop>");
        let files: Vec<_> = std::fs::read_dir(box_dir.join("new"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        assert!(files[0].to_string_lossy().contains("Q41."));
        let mail = std::fs::read_to_string(&files[0]).unwrap();
        assert!(
            mail.contains("Subject: Your parcel has stopped moving"),
            "{mail}"
        );
        assert!(
            mail.contains("Message-ID: <herald.outbox.41@canyonclay.shop>"),
            "{mail}"
        );
        assert!(
            mail.contains("To: ava.begay@mail.herald-demo.net"),
            "{mail}"
        );
        assert_eq!(std::fs::read_dir(box_dir.join("tmp")).unwrap().count(), 0);
    }

    // The SMTP pool keeps its connections on a task, so a mailer lives in a runtime.
    #[tokio::test]
    async fn placeholder_senders_hold_the_mail_and_say_why() {
        let m = Mailer::new(&settings(
            "smtp://127.0.0.1:2525",
            "Shop <orders@example.com>",
            "help@shop.com",
        ));
        let why = m.held().unwrap();
        assert!(
            why.contains("mail.from") && why.contains("placeholder"),
            "{why}"
        );
        let ok = Mailer::new(&settings(
            "smtp://127.0.0.1:2525",
            "Sandstone Pottery <orders@sandstonepottery.shop>",
            "hello@sandstonepottery.shop",
        ));
        assert_eq!(ok.held(), None);
        assert_eq!(
            ok.message_id(42, None),
            "<herald.outbox.42@sandstonepottery.shop>"
        );
        // A second store of the seller's, under its own name and domain.
        let mut two = settings(
            "smtp://127.0.0.1:2525",
            "Sandstone Pottery <orders@sandstonepottery.shop>",
            "hello@sandstonepottery.shop",
        );
        two.stores.insert(
            "shopify-candles".into(),
            StoreSender {
                name: Some("Juniper Candles".into()),
                from: Some("Juniper Candles <orders@junipercandles.shop>".into()),
                reply_to: Some("hello@example.com".into()),
            },
        );
        let why = Mailer::new(&two).held().unwrap().to_string();
        assert!(
            why.contains("mail.stores.shopify-candles.reply_to") && why.contains("placeholder"),
            "{why}"
        );
        two.stores.get_mut("shopify-candles").unwrap().reply_to =
            Some("hello@junipercandles.shop".into());
        let m = Mailer::new(&two);
        assert_eq!(m.held(), None);
        assert_eq!(
            m.message_id(7, Some("shopify-candles")),
            "<herald.outbox.7@junipercandles.shop>"
        );
        assert_eq!(
            m.message_id(7, Some("amazon")),
            "<herald.outbox.7@sandstonepottery.shop>"
        );
    }

    #[test]
    fn smtp_passwords_never_appear_in_problems_or_debug_output() {
        let s = settings(
            "smtps://shop:hunter2@smtp.mailhost.com:465/%%bad",
            "orders@sandstonepottery.shop",
            "hello@sandstonepottery.shop",
        );
        let text = format!("{:?} {:?}", s, s.problems());
        assert!(!text.contains("hunter2"), "{text}");
        let unset = MailSettings::default();
        assert!(
            unset
                .problems()
                .iter()
                .any(|p| p.contains("mail.smtp_url is not set"))
        );
    }
}
