//! The history feeds (`/history.atom`, `/history.rss`) and the status badge (`/badge.svg`).
//!
//! Written by hand rather than through a feed crate: three small fixed shapes whose only
//! outside input is text the seller typed, which [`xml_escape`] makes safe.

use super::{Board, Incident, Indicator};
use jiff::Timestamp;

/// How many incidents a feed carries.
pub const FEED_LIMIT: usize = 50;

/// Escapes text for XML character data and attribute values; drops characters XML 1.0 does
/// not allow (control characters other than tab, newline and carriage return).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The entry text: every update, newest first, as escaped HTML.
fn entry_html(i: &Incident) -> String {
    let mut html = String::new();
    for u in &i.updates {
        html.push_str(&format!(
            "<p><strong>{}</strong> ({}) - {}</p>",
            u.status.label(),
            crate::time::rfc3339(u.display_at),
            xml_escape(&u.body)
        ));
    }
    html
}

fn feed_incidents(b: &Board) -> impl Iterator<Item = &Incident> {
    b.incidents.iter().take(FEED_LIMIT)
}

/// `/history.atom` (RFC 4287).
pub fn atom(b: &Board) -> String {
    let url = &b.page.url;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"en\">\n");
    x.push_str(&format!(
        "<id>{}/history</id>\n<title>{} status - incident history</title>\n<updated>{}</updated>\n<link rel=\"alternate\" type=\"text/html\" href=\"{}/\"/>\n<link rel=\"self\" type=\"application/atom+xml\" href=\"{}/history.atom\"/>\n<author><name>{}</name></author>\n",
        xml_escape(url),
        xml_escape(&b.page.name),
        crate::time::rfc3339(b.updated_at()),
        xml_escape(url),
        xml_escape(url),
        xml_escape(&b.page.name),
    ));
    for i in feed_incidents(b) {
        let link = format!("{url}/incidents/{}", i.id);
        x.push_str(&format!(
            "<entry>\n<id>{}</id>\n<title>{}</title>\n<published>{}</published>\n<updated>{}</updated>\n<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n<content type=\"html\">{}</content>\n</entry>\n",
            xml_escape(&link),
            xml_escape(&i.name),
            crate::time::rfc3339(i.created_at),
            crate::time::rfc3339(i.updated_at),
            xml_escape(&link),
            xml_escape(&entry_html(i)),
        ));
    }
    x.push_str("</feed>\n");
    x
}

fn rfc2822(t: Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// `/history.rss` (RSS 2.0).
pub fn rss(b: &Board) -> String {
    let url = &b.page.url;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n");
    x.push_str(&format!(
        "<title>{} status - incident history</title>\n<link>{}/</link>\n<description>Incidents and maintenance of {}</description>\n<language>en</language>\n<lastBuildDate>{}</lastBuildDate>\n<atom:link href=\"{}/history.rss\" rel=\"self\" type=\"application/rss+xml\"/>\n",
        xml_escape(&b.page.name),
        xml_escape(url),
        xml_escape(&b.page.name),
        rfc2822(b.updated_at()),
        xml_escape(url),
    ));
    for i in feed_incidents(b) {
        let link = format!("{url}/incidents/{}", i.id);
        x.push_str(&format!(
            "<item>\n<title>{}</title>\n<link>{}</link>\n<guid isPermaLink=\"true\">{}</guid>\n<pubDate>{}</pubDate>\n<description>{}</description>\n</item>\n",
            xml_escape(&i.name),
            xml_escape(&link),
            xml_escape(&link),
            rfc2822(i.created_at),
            xml_escape(&entry_html(i)),
        ));
    }
    x.push_str("</channel>\n</rss>\n");
    x
}

/// Approximate width in pixels of text in 11 px Verdana (the badge font), good enough to
/// size the badge without a font file.
fn text_width(s: &str) -> u32 {
    s.chars()
        .map(|c| match c {
            'i' | 'l' | 'I' | '.' | ',' | ':' | '\'' | ' ' => 4,
            'm' | 'w' | 'M' | 'W' => 10,
            c if c.is_ascii_uppercase() => 8,
            _ => 7,
        })
        .sum()
}

/// `/badge.svg`: "status | All Systems Operational" in the indicator's colour.
pub fn badge(b: &Board) -> String {
    let s = b.status();
    let color = match s.indicator {
        Indicator::None => "#1f8a4c",
        Indicator::Maintenance => "#2f6fde",
        Indicator::Minor => "#b7791f",
        Indicator::Major => "#d25b12",
        Indicator::Critical => "#c62828",
    };
    let label = "status";
    let (lw, rw) = (text_width(label) + 12, text_width(s.description) + 12);
    let w = lw + rw;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"20\" role=\"img\" aria-label=\"{label}: {desc}\"><title>{label}: {desc}</title><rect width=\"{lw}\" height=\"20\" fill=\"#555\"/><rect x=\"{lw}\" width=\"{rw}\" height=\"20\" fill=\"{color}\"/><g fill=\"#fff\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\" text-anchor=\"middle\"><text x=\"{lx}\" y=\"14\">{label}</text><text x=\"{rx}\" y=\"14\">{desc}</text></g></svg>",
        desc = xml_escape(s.description),
        lx = lw / 2,
        rx = lw + rw / 2,
    )
}
