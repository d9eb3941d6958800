/* y7deploy lab: a minimal stand-in for DeepStream's nvdsinfer_custom_impl.h with the
 * types a bounding-box parser and an engine-create function need (written for the lab,
 * not NVIDIA's header). */
#ifndef Y7LAB_NVDSINFER_CUSTOM_IMPL_H
#define Y7LAB_NVDSINFER_CUSTOM_IMPL_H
#include <vector>

#include "NvInfer.h"

#define _PATH_MAX 4096

typedef struct {
  unsigned int numDims;
  unsigned int d[8];
} NvDsInferDims;

typedef struct {
  int dataType;
  NvDsInferDims inferDims;
  int bindingIndex;
  const char* layerName;
  void* buffer;
  int isInput;
} NvDsInferLayerInfo;

typedef struct {
  unsigned int width;
  unsigned int height;
  unsigned int channels;
} NvDsInferNetworkInfo;

typedef struct {
  unsigned int numClassesConfigured;
  std::vector<float> perClassPreclusterThreshold;
  std::vector<float> perClassPostclusterThreshold;
} NvDsInferParseDetectionParams;

typedef struct {
  unsigned int classId;
  float left;
  float top;
  float width;
  float height;
  float detectionConfidence;
} NvDsInferObjectDetectionInfo;

typedef NvDsInferObjectDetectionInfo NvDsInferParseObjectInfo;

typedef struct {
  unsigned int uniqueID;
  char onnxFilePath[_PATH_MAX];
  char modelEngineFilePath[_PATH_MAX];
  char int8CalibrationFilePath[_PATH_MAX];
  unsigned int maxBatchSize;
} NvDsInferContextInitParams;

typedef bool (*NvDsInferParseCustomFunc)(std::vector<NvDsInferLayerInfo> const& outputLayersInfo,
    NvDsInferNetworkInfo const& networkInfo, NvDsInferParseDetectionParams const& detectionParams,
    std::vector<NvDsInferObjectDetectionInfo>& objectList);

typedef bool (*NvDsInferEngineCreateCustomFunc)(nvinfer1::IBuilder* const builder,
    nvinfer1::IBuilderConfig* const builderConfig, const NvDsInferContextInitParams* const initParams,
    nvinfer1::DataType dataType, nvinfer1::ICudaEngine*& cudaEngine);

#define CHECK_CUSTOM_PARSE_FUNC_PROTOTYPE(customParseFunc) \
  static void checkFunc_##customParseFunc(NvDsInferParseCustomFunc func = customParseFunc) \
  { (void)func; }; \
  extern "C" bool customParseFunc(std::vector<NvDsInferLayerInfo> const& outputLayersInfo, \
      NvDsInferNetworkInfo const& networkInfo, \
      NvDsInferParseDetectionParams const& detectionParams, \
      std::vector<NvDsInferObjectDetectionInfo>& objectList);

#endif
