"""`make verify`: the live database against the schema its recorded revision should have."""
