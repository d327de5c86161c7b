"""Model providers behind one small interface (``ModelClient``).

Importing this package does not import ``anthropic``; only ``anthropic_model`` does.
"""
