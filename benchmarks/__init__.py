"""Benchmark scripts of monai-deid: corpus, Presidio comparison, planted-PHI scoring, end-to-end throughput."""
