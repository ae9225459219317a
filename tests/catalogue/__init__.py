"""Differential tests behind docs/equivalence.md: one module per source library, one test (or
parametrised test) per catalogue row, comparing the lrkit expression written in the table with
the real library over many steps and several seeded parameter sets."""
