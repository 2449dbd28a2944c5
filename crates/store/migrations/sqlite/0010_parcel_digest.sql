-- The few events of each parcel the problem rules read (herald_core::digest), kept up to date
-- as events arrive so that a new scan is judged without re-reading the whole history. NULL for
-- shipments stored before: their digest is built from every event the next time one arrives.
ALTER TABLE shipments ADD COLUMN digest TEXT;
