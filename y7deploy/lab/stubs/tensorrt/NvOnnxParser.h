/* y7deploy lab: stand-in for TensorRT's NvOnnxParser.h (libnvonnxparser). */
#ifndef Y7LAB_NV_ONNX_PARSER_H
#define Y7LAB_NV_ONNX_PARSER_H
#include "NvInfer.h"

extern "C" int getNvOnnxParserVersion();
extern "C" void* createNvOnnxParser_INTERNAL(void* network, void* logger, int version);
#endif
