"""Benchmarks that drive the product against the stand-ins (`fedctl bench controller|dns`).

They live with the stand-ins because they start them: product code never imports ``federation.sandbox``;
``fedctl bench`` names these modules by path and imports them only when asked.
"""
