"""The plugin layer: hook specs, entry-point loading and the catalog, spec conversion."""
