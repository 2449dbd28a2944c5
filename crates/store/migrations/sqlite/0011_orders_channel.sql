-- Orders of one channel, newest first: a list filtered by channel walks this index in order
-- instead of sorting every order of the channel for each page (1.4 s a page at 1,000,000
-- orders without it).
CREATE INDEX orders_channel ON orders (channel, id);
