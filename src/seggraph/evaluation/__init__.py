"""The pure evaluation core: which subscribers a segment's conditions select.

No I/O: callers fetch the values of ``CompiledSegment.keys`` from the providers, evaluate
referenced segments first (:func:`evaluation_order`) and pass their results in.
"""

from seggraph.evaluation.buckets import bucket_of
from seggraph.evaluation.cache import SegmentCompiler
from seggraph.evaluation.compiler import CompiledSegment, compile_segment, results_of
from seggraph.evaluation.context import EvaluationOptions
from seggraph.evaluation.errors import CompileError, ReferenceCycleError
from seggraph.evaluation.explain import (
    ConditionExplanation,
    EvaluationResult,
    GroupExplanation,
    UnknownCause,
    ValueState,
)
from seggraph.evaluation.ordering import evaluation_order
from seggraph.evaluation.truth import Truth
from seggraph.evaluation.values import MISSING, ResolvedValue, Unknown, UnknownReason, unwrapped

__all__ = [
    "MISSING",
    "CompileError",
    "CompiledSegment",
    "ConditionExplanation",
    "EvaluationOptions",
    "EvaluationResult",
    "GroupExplanation",
    "ReferenceCycleError",
    "ResolvedValue",
    "SegmentCompiler",
    "Truth",
    "Unknown",
    "UnknownCause",
    "UnknownReason",
    "ValueState",
    "bucket_of",
    "compile_segment",
    "evaluation_order",
    "results_of",
    "unwrapped",
]
