/* y7deploy lab: a minimal stand-in for DeepStream's nvdsinfer_custom_impl.h with the
 * types a bounding-box parser needs (written for the lab, not NVIDIA's header). */
#ifndef Y7LAB_NVDSINFER_CUSTOM_IMPL_H
#define Y7LAB_NVDSINFER_CUSTOM_IMPL_H
#include <vector>

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

typedef bool (*NvDsInferParseCustomFunc)(std::vector<NvDsInferLayerInfo> const& outputLayersInfo,
    NvDsInferNetworkInfo const& networkInfo, NvDsInferParseDetectionParams const& detectionParams,
    std::vector<NvDsInferObjectDetectionInfo>& objectList);

#define CHECK_CUSTOM_PARSE_FUNC_PROTOTYPE(customParseFunc) \
  static void checkFunc_##customParseFunc(NvDsInferParseCustomFunc func = customParseFunc) \
  { checkFunc_##customParseFunc(); }; \
  extern "C" bool customParseFunc(std::vector<NvDsInferLayerInfo> const& outputLayersInfo, \
      NvDsInferNetworkInfo const& networkInfo, \
      NvDsInferParseDetectionParams const& detectionParams, \
      std::vector<NvDsInferObjectDetectionInfo>& objectList);

#endif
