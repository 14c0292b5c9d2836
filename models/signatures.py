"""The serving contract of the exported model: signature names and how a JSON request
marks a missing value.

Plain Python, so that serving clients, `pipeline.serving` and its fresh-process
servable check read it without importing TFX.
"""

from types import MappingProxyType

# JSON clients of TF Serving's REST API call the default signature without naming it;
# gRPC clients, TFMA and BulkInferrer name the tf.Example one.
JSON_SIGNATURE = "serving_default"
EXAMPLES_SIGNATURE = "from_examples"
# Raw tf.Examples in, transformed features (and the label) out: what TFMA uses to get
# the label from raw eval data.
TRANSFORM_SIGNATURE = "transform_features"

# The input name of the tf.Example signatures.
EXAMPLES_INPUT = "examples"
# The one output of both serving signatures, by task. Classification: the
# probability of each class, [batch, classes], in the order of the label's classes
# (two classes: [batch, 1], the probability of the second). Regression: the predicted
# value, [batch, 1].
OUTPUTS = MappingProxyType({"classification": "probability", "regression": "prediction"})

# How a request to the JSON signature says "no value" for a feature, by the input's
# dtype name. TF Serving needs every input of a signature in every request, so an
# absent value (an empty CSV cell at training time) needs a marker; the signature turns
# it back into a missing value before the Transform graph sees it.
MISSING_VALUES = MappingProxyType({"float32": float("nan"), "int64": -1, "string": ""})


def output_name(task: str) -> str:
    """The output key of the serving signatures of a model for `task`."""
    return OUTPUTS[task]
