"""Active learning (SPEC section 6): exploration MD, committee deviation, SOAP diversity, selection, the loop."""
