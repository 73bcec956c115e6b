"""Brokers: one small async contract, one module per URL scheme."""
