"""The policy engine: pure text in, verdict out. Imports nothing from Jupyter or tornado."""

from __future__ import annotations

from .engine import Engine, EvaluationContext
from .errors import PolicyError, Problem
from .loader import load_policy, load_texts
from .model import Action, Policy, Rule, Severity
from .verdict import Match, RuleHit, Span, Verdict

__all__ = [
    "Action",
    "Engine",
    "EvaluationContext",
    "Match",
    "Policy",
    "PolicyError",
    "Problem",
    "Rule",
    "RuleHit",
    "Severity",
    "Span",
    "Verdict",
    "load_policy",
    "load_texts",
]
