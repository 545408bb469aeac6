--  0013_drop_analytics_apply: analytics.apply (0006), the all-SQL way of
--  applying a batch, is called by nothing since 0009 (ferry-analytics maps
--  events to facts itself and leaves analytics.apply_rest the rest). A
--  second path that writes the same tables, untested, would drift from
--  the one that runs; to apply a batch by hand, publish it (ferryctl send).
DROP FUNCTION analytics.apply (jsonb);
