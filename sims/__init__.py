"""Load simulator: a synthetic city with moving couriers and arriving orders."""
