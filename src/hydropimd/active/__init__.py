"""Active learning (docs/theory/active-learning.md): exploration MD, committee deviation, SOAP diversity,
selection, the loop."""
