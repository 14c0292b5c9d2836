"""Scores one taxi trip through TF Serving's gRPC API with the tf.Example signature.

    python examples/grpc_client.py [HOST:PORT]   (default localhost:8500)

Features left out of the example are missing values, handled as at training time.
"""

import sys

import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc


def trip_example() -> tf.train.Example:
    def floats(value):
        return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))

    def ints(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    def strings(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))

    return tf.train.Example(features=tf.train.Features(feature={
        "fare": floats(12.45),
        "trip_miles": floats(0.0),
        "trip_seconds": ints(600),
        "trip_start_hour": ints(0),
        "trip_start_day": ints(3),
        "trip_start_month": ints(12),
        "payment_type": strings("Credit Card"),
        "company": strings("Taxi Affiliation Services"),
    }))


def predict_request(examples: list[tf.train.Example]) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "big_tipper"
    request.model_spec.signature_name = "from_examples"
    request.inputs["examples"].CopyFrom(
        tf.make_tensor_proto([example.SerializeToString() for example in examples]))
    return request


def main(target: str) -> None:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target))
    response = stub.Predict(predict_request([trip_example()]), timeout=10.0)
    print(tf.make_ndarray(response.outputs["probability"]))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "localhost:8500")
