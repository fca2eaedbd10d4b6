"""Read Plotly figures the way AppTest sees them: JSON specs, where numeric arrays
may be packed as ``{"dtype", "bdata"}`` (base64)."""

import base64
import json

import numpy as np


def array(value):
    """A trace's x/y/z as a plain list, unpacking Plotly's binary encoding."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        if shape:
            flat = flat.reshape([int(s) for s in str(shape).split(",")])
        return flat.tolist()
    return value


def specs(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
