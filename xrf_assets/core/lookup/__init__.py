"""Look-ups over the published tables: one study's dose card, one patient's dose history."""
