/* y7deploy lab: stand-in for TensorRT's NvInferPlugin.h (libnvinfer_plugin). */
#ifndef Y7LAB_NV_INFER_PLUGIN_H
#define Y7LAB_NV_INFER_PLUGIN_H
#include "NvInfer.h"

extern "C" bool initLibNvInferPlugins(void* logger, const char* libNamespace);
#endif
