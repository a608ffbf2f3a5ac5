"""Measuring how ideas mutate down remix trees: drift, blame, styles, bleed, decay."""
