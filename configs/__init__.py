"""YAML configs validated into typed objects (see configs/schema.py)."""
