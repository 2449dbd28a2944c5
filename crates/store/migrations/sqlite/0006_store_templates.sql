-- Templates per store: a seller with several stores (sales channels under their own names)
-- words each store's messages its own way. store = '' is the version for every store.
CREATE TABLE store_templates (
    store TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    text TEXT NOT NULL,
    html TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (store, kind)
);
INSERT INTO store_templates (store, kind, subject, text, html, updated_at)
    SELECT '', kind, subject, text, html, updated_at FROM message_templates;
DROP TABLE message_templates;
ALTER TABLE store_templates RENAME TO message_templates;
