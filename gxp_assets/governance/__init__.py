"""GxP controls as plain Python: change control plan, registry, audit trail, e-signatures, lineage."""
