"""Live courier tracking: ping rules, the H3 live index, nearest queries and geofence events."""
