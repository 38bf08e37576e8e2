"""The ``protoc-gen-connect-python`` plugin and the unasync transform."""
