/* y7deploy lab: a minimal stand-in for TensorRT's NvInfer.h, written for the lab
 * (the few names the fixture parser uses; not NVIDIA's API in full). */
#ifndef Y7LAB_NV_INFER_H
#define Y7LAB_NV_INFER_H
#include <stdint.h>

#include "NvInferVersion.h"

namespace nvinfer1 {
enum class DataType : int32_t { kFLOAT = 0, kHALF = 1, kINT8 = 2, kINT32 = 3, kBOOL = 4 };
class ICudaEngine;
class INetworkDefinition;
class IBuilderConfig;
class IBuilder {
public:
  virtual ICudaEngine* buildEngineWithConfig(IBuilderConfig* config) = 0;
  virtual INetworkDefinition* createNetworkV2(uint32_t flags) = 0;
protected:
  virtual ~IBuilder() {}
};
}  // namespace nvinfer1

extern "C" int32_t getInferLibVersion();
extern "C" void* createInferBuilder_INTERNAL(void* logger, int32_t version);
#endif
