"""A griffe extension for the API reference: read ``Example:`` sections as ``Examples:``.

The docstrings use Google style, and many put their doctests under ``Example:``. griffe
renders that title as an admonition of Markdown text, so ``>>>`` lines would turn into
nested quotes; ``Examples:`` is griffe's examples section, which renders doctests as code.
This changes only what mkdocstrings reads, not the modules (``mkdocs.yml`` loads it).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", flags=re.M)


class DoctestExamples(griffe.Extension):
    """Rename each ``Example:`` section title to ``Examples:`` before the docstring is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring, if it has one."""
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
