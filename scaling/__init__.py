"""Scale-out over Redis: H3-sharded engine processes, API workers in front (docs/scaling.md)."""
