"""Catalog: packages, prices, regions, networks and device eSIM compatibility."""
