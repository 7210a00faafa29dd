"""Order-to-courier assignment: candidates over H3 rings, cost model, OR-Tools matching, offers."""

from dispatch.solver import solve_assignment

__all__ = ["solve_assignment"]
