"""Adapters to billing's outside vendors (one module per vendor)."""
