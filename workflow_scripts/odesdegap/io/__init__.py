"""Files: atomic writes, arrays, checkpoints, and the authors' published files."""
