"""Order-to-courier assignment: candidates over H3 rings, cost model, OR-Tools matching, offers."""

from dispatch.cost import CostModel
from dispatch.dispatcher import Dispatcher, load_onto
from dispatch.engine import (
    ALL_CANDIDATES_TAKEN,
    NO_CANDIDATE_IN_RADIUS,
    Assignment,
    DispatchParams,
    Match,
    assign,
)
from dispatch.errors import (
    DispatchError,
    InvalidAssignmentInput,
    InvalidInput,
    InvalidOrder,
    InvalidParams,
    OfferConflict,
    UnknownId,
)
from dispatch.model import DispatchOrder
from dispatch.offers import Offer, OfferBook, OfferRequest
from dispatch.scheduler import BatchScheduler
from dispatch.solver import solve_assignment

__all__ = [
    "ALL_CANDIDATES_TAKEN",
    "NO_CANDIDATE_IN_RADIUS",
    "Assignment",
    "BatchScheduler",
    "CostModel",
    "DispatchError",
    "DispatchOrder",
    "DispatchParams",
    "Dispatcher",
    "InvalidAssignmentInput",
    "InvalidInput",
    "InvalidOrder",
    "InvalidParams",
    "Match",
    "Offer",
    "OfferBook",
    "OfferConflict",
    "OfferRequest",
    "UnknownId",
    "assign",
    "load_onto",
    "solve_assignment",
]
