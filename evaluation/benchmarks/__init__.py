"""Benchmarks behind `sleuth bench NAME`: each returns its figures as a JSON-able dict."""
