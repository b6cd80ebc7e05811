"""Price feeds: where the latest prices of the configured tokens come from (Jupiter, sim, ...)."""
