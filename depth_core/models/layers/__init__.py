"""Network building blocks, one concept per file."""
