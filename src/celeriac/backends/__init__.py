"""Result backends: one small contract, one module per URL scheme."""
