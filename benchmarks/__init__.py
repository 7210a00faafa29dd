"""Benchmarks and peer comparisons, run by `make bench`, never by `make test`."""
