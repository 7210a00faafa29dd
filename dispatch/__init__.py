"""Order-to-courier assignment: candidates over H3 rings, cost model, OR-Tools matching, offers."""
