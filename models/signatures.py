"""The serving contract of the exported model: signature names, the input names raw
CSV columns get, and how a JSON request marks a missing value.

Plain Python, so that serving clients, `pipeline.serving` and its fresh-process
servable check read it without importing TFX.
"""

import re
import unicodedata
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


# A column name TensorFlow takes as it is for a signature input: graph op names are
# ASCII (`_VALID_OP_NAME_REGEX` in tensorflow/python/framework/ops.py), function
# arguments must start with a letter and hold only letters, digits and `_`
# (`sanitize_arg_name` in tensorflow/core/function/polymorphism/function_type.py renames
# others, and saving a signature whose renamed inputs clash fails).
_SAFE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# What goes in front of a name that would not start with a letter.
NAME_PREFIX = "col_"


def _ascii(character: str) -> str:
    """ASCII letters and digits for one character of a column name: accents dropped
    (é -> e, ß -> ss), other letters and digits as `u` and their code point in hex
    (地 -> u5730, set apart by spaces); anything else (space, punctuation) becomes a
    space."""
    if character.isascii():
        return character if character.isalnum() else " "
    for form in (character, character.casefold()):
        plain = "".join(c for c in unicodedata.normalize("NFKD", form)
                        if not unicodedata.combining(c))
        if plain.isascii() and plain.isalnum():
            return plain
    return f" u{ord(character):04x} " if character.isalnum() else " "


def input_name(column: str) -> str:
    """The name a raw CSV column has as a `serving_default` input, and the stem of its
    names in the Transform graph and the Keras model. Deterministic, and the column's
    own name whenever that is already ASCII letters, digits and underscores starting
    with a letter (every taxi column). Otherwise each character goes through `_ascii`,
    every run of characters other than ASCII letters and digits becomes one `_`, `_`s at
    either end are dropped, and NAME_PREFIX goes in front of what does not start with
    a letter: `sepal length (cm)` -> `sepal_length_cm`, `2nd-plan` -> `col_2nd_plan`,
    `Größe` -> `Grosse`, `地区` -> `u5730_u533a`. Two columns with the same input name
    are refused (pipeline/data.py), so within a dataset the mapping is one to one."""
    if _SAFE_NAME.fullmatch(column):
        return column
    text = re.sub(r"[^A-Za-z0-9]+", "_", "".join(map(_ascii, column))).strip("_")
    if not text[:1].isalpha():
        text = f"{NAME_PREFIX}{text}".rstrip("_")
    return text
