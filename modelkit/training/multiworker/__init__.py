"""Training on several workers with ``tf.distribute.MultiWorkerMirroredStrategy``.

``cluster`` reads ``TF_CONFIG`` (no TensorFlow import), ``launcher`` starts local
workers for trying it on one machine, ``trainer`` trains one worker (importing it
imports TensorFlow). See ``trainer``'s docstring for the design.
"""
