"""Persistence: the embedded in-memory store and the PostGIS store behind one interface."""
