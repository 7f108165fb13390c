"""``nas bench``: search strategies, accuracy predictors and latency transfer measured on tabular NAS benchmarks
(NAS-Bench-201 and any table of the same shape)."""
