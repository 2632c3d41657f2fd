r"""Pull the final answer out of a completion, and normalise answers for comparison.

Extraction order (`extract_answer`; the first rule that finds something wins):

1. the last `\boxed{...}` (or `\fbox{...}`), braces balanced: `\boxed{\frac{1}{2}}` -> `\frac{1}{2}`;
2. the text after the last `####` (GSM8K's convention), up to the end of that line;
3. the text after the last "answer is" / "answer:" (any case), up to the end of that sentence;
4. only with `last_number_fallback=True`: the last number anywhere in the completion.

After rules 2 and 3 the captured text is trimmed: a `$...$` span gives its inside, a leading
number gives that number ("18 dollars." -> "18", "$1,000" -> "1,000"), otherwise the text
without its closing period.
"""

import re
from fractions import Fraction

NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?"
_LEADING_NUMBER = re.compile(rf"^\\?\$?\s*({NUMBER})")
# a number not glued to a preceding digit or word (so "3-4" gives 3 and 4, "x2" gives nothing)
_ANY_NUMBER = re.compile(rf"(?<![\w.]){NUMBER}")
_HASHES = re.compile(r"####[ \t]*([^\n]*)")
_ANSWER_IS = re.compile(r"answer\s*(?:is\s*:?|:)[ \t]*([^\n]*)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_BOX = re.compile(r"\\(?:boxed|fbox)\s*(\{)?")


def last_boxed(text: str) -> str | None:
    r"""Content of the last `\boxed{...}` / `\fbox{...}` in `text` (nested braces kept), else None.

    `\boxed 5` (no braces) gives the next token, "5". An unclosed brace gives None.
    """
    matches = list(_BOX.finditer(text))
    for match in reversed(matches):
        if match.group(1) is None:  # "\boxed 5"
            token = text[match.end() :].split(maxsplit=1)
            if token:
                return token[0].rstrip("$.")
            continue
        depth = 1
        for i in range(match.end(), len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    return text[match.end() : i].strip()
    return None


def _trim_capture(text: str) -> str | None:
    """Cut a free-text capture ("####"/"answer is") down to the answer itself."""
    text = text.strip()
    if text.startswith("$") and text.count("$") >= 2 and not text.startswith("$$"):
        return text[1 : text.index("$", 1)].strip() or None
    number = _LEADING_NUMBER.match(text)
    if number:
        return number.group(1)
    end = _SENTENCE_END.search(text)
    text = (text[: end.start()] if end else text).strip().strip("$").strip()
    return text or None


def extract_answer(completion: str, last_number_fallback: bool = True) -> str | None:
    """The final answer in `completion` (rules in the module docstring), or None if there is none."""
    boxed = last_boxed(completion)
    if boxed:
        return boxed
    for pattern in (_HASHES, _ANSWER_IS):
        captures = pattern.findall(completion)
        if captures:
            answer = _trim_capture(captures[-1])
            if answer:
                return answer
    if last_number_fallback:
        numbers = _ANY_NUMBER.findall(completion)
        if numbers:
            return numbers[-1]
    return None


_DROP = (r"\!", r"\,", r"\;", r"\:", r"\ ", r"\left", r"\right", r"\displaystyle", "^{\\circ}", "^\\circ")
_TRAILING_UNIT = re.compile(r"(?<=\d)\s*\\(?:text|mbox|mathrm)\{[^{}]*\}$")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_PLAIN_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:/\d+)?$")


def normalize_answer(answer: str) -> str:
    r"""A canonical spelling for cheap comparison: no `$`, spacing, `\left`, degree signs,
    thousands commas, trailing period or percent sign; `\dfrac`/`\tfrac` -> `\frac`.

    "$1,000.$" -> "1000"; "\dfrac{1}{2}" -> "\frac{1}{2}"; "18 \text{ dollars}" -> "18".
    """
    text = answer.strip().replace("\\$", "").replace("$", "").replace("\u2212", "-")
    for token in _DROP:
        text = text.replace(token, "")
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = _TRAILING_UNIT.sub("", text.strip())
    text = _THOUSANDS_COMMA.sub("", text)
    text = "".join(text.split())
    text = text.rstrip(".")
    for suffix in ("\\%", "%"):
        text = text.removesuffix(suffix)
    return text


def as_number(answer: str) -> Fraction | None:
    """The exact value of a normalised plain number ("42", "-0.5", "3/4"), else None."""
    if not _PLAIN_NUMBER.match(answer):
        return None
    try:
        return Fraction(answer)
    except (ValueError, ZeroDivisionError):
        return None
