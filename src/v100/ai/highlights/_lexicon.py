"""The word lists the local scorer counts, and how a word is compared: lower case, punctuation
around it stripped, then a crude suffix stem so "keywords" meets "keyword". English only: in
another language these lists find nothing and the factors rest on punctuation, numbers, timing
and the signals (docs/video-analysis.md, "Highlights")."""

from __future__ import annotations

import re

__all__ = [
    "EMOTION",
    "FILLERS",
    "HOOK_WORDS",
    "INTENSIFIERS",
    "NUMBER_WORDS",
    "OPENING_FILLERS",
    "STOPWORDS",
    "WEAK_OPENERS",
    "YOU",
    "normalise",
    "stem",
]

_EDGES = re.compile(r"^[^\w']+|[^\w']+$")

# Said to fill time rather than to mean something.
FILLERS = frozenset({"um", "uh", "uhm", "erm", "er", "hmm", "mm", "ah", "eh", "basically"})
# A clip that opens on one of these opens on nothing.
OPENING_FILLERS = FILLERS | {"so", "well", "okay", "ok", "alright", "anyway", "yeah", "like"}
# A first word that leans on what came before: the clip starts mid-thought.
WEAK_OPENERS = frozenset(
    {"and", "but", "or", "because", "so", "then", "also", "which", "it", "this", "that",
     "these", "those", "they", "he", "she", "them", "him", "her", "there"}
)  # fmt: skip
YOU = frozenset({"you", "your", "you're", "yours", "yourself", "you've", "you'll", "you'd"})
# Words that promise something: a secret, a mistake, a surprise, a superlative.
HOOK_WORDS = frozenset(
    {"imagine", "secret", "secrets", "mistake", "mistakes", "never", "stop", "truth", "nobody",
     "everyone", "biggest", "worst", "best", "hidden", "surprising", "surprise", "warning",
     "wrong", "proven", "exactly", "here's", "listen", "only", "first"}
)  # fmt: skip
EMOTION = frozenset(
    {"amazing", "incredible", "love", "loved", "hate", "hated", "terrible", "awful",
     "horrible", "shocking", "shocked", "crazy", "insane", "wow", "unbelievable", "beautiful",
     "fantastic", "disaster", "scared", "afraid", "terrified", "angry", "furious", "excited",
     "exciting", "thrilled", "sad", "heartbreaking", "painful", "brilliant", "awesome",
     "perfect", "ridiculous", "stunning", "wonderful", "dangerous", "fear", "joy", "happy",
     "cry", "cried", "laugh", "laughed", "scream", "screamed", "damn", "omg", "oh", "nightmare",
     "devastating", "epic", "huge", "massive", "unreal", "proud", "miracle"}
)  # fmt: skip
INTENSIFIERS = frozenset(
    {"very", "really", "absolutely", "totally", "completely", "extremely", "super", "truly",
     "incredibly", "seriously", "literally", "so", "such", "ever", "always", "never"}
)  # fmt: skip
NUMBER_WORDS = frozenset(
    {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
     "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
     "eighteen", "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
     "eighty", "ninety", "hundred", "thousand", "million", "billion", "trillion", "percent",
     "half", "twice", "double", "triple", "dozen"}
)  # fmt: skip
STOPWORDS = frozenset(
    {"a", "an", "the", "and", "or", "but", "if", "then", "so", "of", "to", "in", "on", "at",
     "by", "for", "with", "about", "from", "into", "over", "up", "down", "out", "off", "as",
     "is", "am", "are", "was", "were", "be", "been", "being", "have", "has", "had", "do",
     "does", "did", "will", "would", "shall", "should", "can", "could", "may", "might", "must",
     "i", "me", "my", "we", "us", "our", "you", "your", "he", "him", "his", "she", "her", "it",
     "its", "they", "them", "their", "this", "that", "these", "those", "there", "here", "what",
     "which", "who", "whom", "when", "where", "why", "how", "all", "any", "some", "no", "not",
     "just", "very", "really", "also", "too", "than", "now", "like", "get", "got", "go",
     "going", "know", "think", "mean", "thing", "things", "yeah", "okay", "ok", "well", "oh",
     "i'm", "it's", "that's", "don't", "you're", "we're", "they're", "there's", "let's",
     "gonna", "kind", "sort", "lot", "one", "say", "said", "see", "want", "make", "way"}
) | FILLERS  # fmt: skip


def normalise(word: str) -> str:
    """Lower case, curly apostrophes made straight, punctuation around the word removed."""
    return _EDGES.sub("", word.replace("\u2019", "'").lower())


def stem(word: str) -> str:
    """A crude English suffix stem, the same for transcript words and keywords."""
    word = word.removesuffix("'s")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word
