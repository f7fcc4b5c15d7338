"""Few-shot prompts: a task shown by example, answered by continuing the text.

Radford et al. 2019 (Sec. 3.7) translate with GPT-2 without training for it: the model is
conditioned on example pairs in the format ``english sentence = french sentence`` and then on
``english sentence =``, and its greedy continuation is read as the translation. The lecture
writes the same prompt as ``<French1> = <English1>, …, <French> =``.
"""

from __future__ import annotations

from typing import Sequence

from jaxpretrain.errors import InputError


def few_shot_prompt(
    examples: Sequence[tuple[str, str]],
    query: str,
    *,
    separator: str = " = ",
    delimiter: str = "\n",
) -> str:
    """``a_1 = b_1 \\n … \\n a_n = b_n \\n query =``: continue it, stopping at ``delimiter``.

    Args:
      examples: (source, target) pairs shown before the query, e.g. (French, English).
      query: the source whose target the model should write.
      separator: between a source and its target; its trailing space is dropped after the
        query, since byte-level BPE tokens carry their leading space (" the").
      delimiter: between examples; pass it as the completion's stop string.

    Returns:
      The prompt text.
    """
    if not query:
        raise InputError("few_shot_prompt needs a non-empty query.")
    examples = list(examples)
    for source, target in examples + [(query, "")]:
        for text in (source, target):
            if delimiter in text or (separator.strip() and separator in text):
                raise InputError(
                    f"few-shot text {text!r} contains the separator {separator!r} or the "
                    f"delimiter {delimiter!r}: the model could not tell the examples apart; "
                    "choose other separator/delimiter strings."
                )
    shown = [f"{source}{separator}{target}" for source, target in examples]
    return delimiter.join(shown + [f"{query}{separator.rstrip()}"])
