-- Orders placed in a date range within one channel or one state, newest placed first: with
-- `placed_at` alone the planner took the channel's (or state's) index and sorted every order of
-- it in the range for each page (seconds at a million orders); these keep the orders of each
-- channel and of each state in placed-date order.
CREATE INDEX orders_channel_placed ON orders (channel, placed_at);
CREATE INDEX orders_state_placed ON orders (state, placed_at);
