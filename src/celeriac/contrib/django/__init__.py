"""Django integration (the only package that imports Django)."""
