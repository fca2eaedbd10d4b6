"""Faces in photos: detect (MTCNN), align to the training set's framing, crop.

- :mod:`~modelkit.data.faces.detect`: boxes, scores and five landmarks;
- :mod:`~modelkit.data.faces.align`: eye-level alignment and the crop;
- :mod:`~modelkit.data.faces.crops`: detections cached per file, a dataset's aligned crops.

Importing this package loads no TensorFlow.
"""
