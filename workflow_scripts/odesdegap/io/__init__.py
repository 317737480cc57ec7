"""Files: atomic writes, arrays and JSON (artifacts), torch weights and checkpoints (weights),
per-run CSV rows (rows)."""
