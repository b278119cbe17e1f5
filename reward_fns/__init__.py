"""Rule rewards of FGRPO (SPEC §1): format, accuracy, spatial grounding, and the text helpers
(answer extraction, sentence splitting, the trivial-sentence filter, the model's box frame)."""

from reward_fns.accuracy import accuracy_reward, matched_choice, normalize_answer
from reward_fns.boxes import parse_bboxes, spatial_grounding_reward
from reward_fns.frame import rescale_boxes, smart_resize, to_model_frame
from reward_fns.segmenter import split_sentences
from reward_fns.sentences import TRIVIAL_PREFIXES, VISUAL_WORDS, is_trivial_sentence, nontrivial_sentences
from reward_fns.tags import extract_answer, extract_think, format_reward

__all__ = [
    "TRIVIAL_PREFIXES",
    "VISUAL_WORDS",
    "accuracy_reward",
    "extract_answer",
    "extract_think",
    "format_reward",
    "is_trivial_sentence",
    "matched_choice",
    "nontrivial_sentences",
    "normalize_answer",
    "parse_bboxes",
    "rescale_boxes",
    "smart_resize",
    "spatial_grounding_reward",
    "split_sentences",
    "to_model_frame",
]
