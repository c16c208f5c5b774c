"""Metrics, the paper's protocol, tables and figures."""
