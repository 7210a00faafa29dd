"""Vehicle routing with pickup and delivery, time windows and capacities on OR-Tools."""
