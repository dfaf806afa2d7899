"""Package ``learning.v1`` of the proto: ``learning_pb2`` (messages, enums) and
``learning_pb2_grpc`` (the service stubs), generated when this package was built, with type stubs.

    from learning_client.v1 import learning_pb2, learning_pb2_grpc
"""
