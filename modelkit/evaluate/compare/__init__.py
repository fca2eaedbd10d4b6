"""Did the change work? Runs compared on the same faces with paired bootstrap intervals.

- :mod:`~modelkit.evaluate.compare.inputs`: which runs, whether each can be compared,
  their predictions aligned on the images they share;
- :mod:`~modelkit.evaluate.compare.paired`: paired bootstrap statistics;
- :mod:`~modelkit.evaluate.compare.runs`: :func:`compare` itself;
- :mod:`~modelkit.evaluate.compare.result`: :class:`Comparison`, its tables and JSON.

Example::

    from modelkit.evaluate.compare.runs import compare
    comparison = compare(["runs/baseline", "runs/balanced"], split="test")
    comparison.figures.query("excludes_zero")
"""
