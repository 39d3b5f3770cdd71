/**
 * The protobuf field numbers and enum values of onnx/onnx.proto that Loupe reads (onnx-import/) and writes
 * (export/onnx/): one table, so the reader, the writer and the cut of a backbone at its features (feature-output.ts)
 * cannot disagree on a number. Only the fields Loupe uses are listed; they have not changed since IR version 3.
 */

export const ModelField = { IR_VERSION: 1, PRODUCER_NAME: 2, PRODUCER_VERSION: 3, DOC_STRING: 6, GRAPH: 7, OPSET_IMPORT: 8, METADATA_PROPS: 14 } as const;

export const OperatorSetIdField = { DOMAIN: 1, VERSION: 2 } as const;

export const StringStringEntryField = { KEY: 1, VALUE: 2 } as const;

export const GraphField = { NODE: 1, NAME: 2, INITIALIZER: 5, INPUT: 11, OUTPUT: 12, VALUE_INFO: 13, SPARSE_INITIALIZER: 15 } as const;

export const NodeField = { INPUT: 1, OUTPUT: 2, NAME: 3, OP_TYPE: 4, ATTRIBUTE: 5, DOMAIN: 7 } as const;

export const AttributeField = { NAME: 1, FLOAT: 2, INT: 3, STRING: 4, TENSOR: 5, FLOATS: 7, INTS: 8, TYPE: 20 } as const;

/** AttributeProto.AttributeType */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

export const TensorField = { DIMS: 1, DATA_TYPE: 2, FLOAT_DATA: 4, INT32_DATA: 5, INT64_DATA: 7, NAME: 8, RAW_DATA: 9, DATA_LOCATION: 14 } as const;

/** TensorProto.DataLocation */
export const DataLocation = { EXTERNAL: 1 } as const;

/** TensorProto.DataType: the element types Loupe reads or writes. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;

export const ValueInfoField = { NAME: 1, TYPE: 2 } as const;

/** TypeProto.tensor_type, then TypeProto.Tensor's fields. */
export const TypeField = { TENSOR_TYPE: 1 } as const;
export const TensorTypeField = { ELEM_TYPE: 1, SHAPE: 2 } as const;

/** TensorShapeProto.dim, then TensorShapeProto.Dimension's fields. */
export const ShapeField = { DIM: 1 } as const;
export const DimensionField = { VALUE: 1, PARAM: 2 } as const;
