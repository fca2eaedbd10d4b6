"""The embedded default dataset: cartoon faces drawn from their labels.

- :mod:`~modelkit.data.synthetic.generate`: the set's labels, folder and generation;
- :mod:`~modelkit.data.synthetic.drawing`: one face drawn from its labels.
"""
