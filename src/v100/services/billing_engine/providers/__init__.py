"""Adapters to outside vendors, one module per vendor."""
