"""Loading a model to run it: a FaceScope run's model, its classes and the input it is fed.

- :mod:`~modelkit.models.run_model`: a run's ``model.keras`` and ``config.json``, its
  heads' classes, and the images made its input through the one decoder;
- :mod:`~modelkit.models.rows`: the heads' probabilities turned into labelled
  predictions (the predicted class of each trained head, the expected age, the age
  group's mass), the one place every prediction path (datasets, photos) reads them.

Importing this package loads no TensorFlow.
"""
