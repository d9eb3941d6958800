"""What an ONNX file declares (opset, graph inputs and outputs), read without the onnx package.

The fleet half is installed without the export extras, yet a release's model must be
proved to be the model its manifest describes before it goes to devices. An ONNX file
is a protobuf ModelProto; this reads only the fields that matter here, by their field
numbers in onnx.proto3, and skips everything else (weights included) without copying it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# onnx.proto3 field numbers
_MODEL_IR_VERSION, _MODEL_GRAPH, _MODEL_OPSET_IMPORT = 1, 7, 8
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 1, 5, 11, 12
_TENSOR_NAME = 8
_VALUE_NAME, _VALUE_TYPE = 1, 2
_TYPE_TENSOR, _TENSOR_TYPE_SHAPE, _SHAPE_DIM, _DIM_VALUE, _DIM_PARAM = 1, 2, 1, 1, 2
_OPSET_DOMAIN, _OPSET_VERSION = 1, 2

Dim = int | str  # a fixed size, or a symbolic name (a dynamic axis); "?" when neither is given


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[Dim, ...]


@dataclass(frozen=True)
class OnnxHeader:
    ir_version: int
    opset: int  # of the default domain ("" or "ai.onnx"); 0 when the model imports none
    nodes: int
    inputs: tuple[Tensor, ...]  # graph inputs that are not initializers (weights)
    outputs: tuple[Tensor, ...]


def read_onnx_header(path: str | Path) -> OnnxHeader:
    """The header of the ONNX model at path; ValueError saying why when it is not one."""
    data = memoryview(Path(path).read_bytes())
    fields = list(_fields(data))
    versions = [v for n, v in fields if n == _MODEL_IR_VERSION and isinstance(v, int)]
    if not versions or _MODEL_GRAPH not in {n for n, _ in fields}:
        raise ValueError("no ModelProto (ir_version and graph) in it")
    ir_version = versions[-1]
    opset = 0
    for number, value in fields:
        if number == _MODEL_OPSET_IMPORT:
            entry = _last(value)
            if bytes(entry.get(_OPSET_DOMAIN, b"")) in (b"", b"ai.onnx"):
                opset = int(entry.get(_OPSET_VERSION, 0))
    graph = [v for n, v in fields if n == _MODEL_GRAPH][-1]
    weights, nodes, inputs, outputs = set(), 0, [], []
    for number, value in _fields(_bytes(graph)):
        if number == _GRAPH_NODE:
            nodes += 1
        elif number == _GRAPH_INITIALIZER:
            weights.add(bytes(_last(value).get(_TENSOR_NAME, b"")).decode("utf-8", "replace"))
        elif number in (_GRAPH_INPUT, _GRAPH_OUTPUT):
            (inputs if number == _GRAPH_INPUT else outputs).append(_tensor(value))
    return OnnxHeader(ir_version, opset, nodes, tuple(t for t in inputs if t.name not in weights), tuple(outputs))


def _tensor(value_info: object) -> Tensor:
    info = _last(value_info)
    name = bytes(info.get(_VALUE_NAME, b"")).decode("utf-8", "replace")
    tensor = _last(_last(info.get(_VALUE_TYPE, b"")).get(_TYPE_TENSOR, b""))
    shape = tensor.get(_TENSOR_TYPE_SHAPE)
    dims: list[Dim] = []
    if shape is not None:
        for number, dim in _fields(_bytes(shape)):
            if number == _SHAPE_DIM:
                d = _last(dim)
                dims.append(int(d[_DIM_VALUE]) if _DIM_VALUE in d
                            else bytes(d.get(_DIM_PARAM, b"?")).decode("utf-8", "replace"))
    return Tensor(name, tuple(dims))


def _bytes(value: object) -> memoryview:
    if not isinstance(value, memoryview):
        raise ValueError("a message field holds a number")
    return value


def _last(value: object) -> dict[int, object]:
    """A sub-message's fields, the last of each number winning (protobuf's merge rule for scalars)."""
    return dict(_fields(_bytes(value)))


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, object]]:
    """(field number, value) of each field: an int for varints, a memoryview for the rest."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            value, i = _varint(buf, i)
            yield number, value
            continue
        if wire == 2:
            size, i = _varint(buf, i)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
        else:
            raise ValueError(f"wire type {wire}")
        if i + size > len(buf):
            raise ValueError("truncated field")
        yield number, buf[i:i + size]
        i += size
